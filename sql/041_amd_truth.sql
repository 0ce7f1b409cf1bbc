-- What an AMD verdict really met, when it is known (a review of the recording, a callback, the
-- simulated PBX's ground truth): a MACHINE verdict on a 'human' is a false positive, which
-- Ofcom counts as an abandoned call; `pacedial audit` counts it so.
ALTER TABLE amd_decisions ADD COLUMN truth text CHECK (truth IN ('human', 'machine'));
