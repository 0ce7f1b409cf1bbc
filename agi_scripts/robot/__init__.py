"""The collection robot: scripts from ``conf/robot/``, their validator and the dialog engine."""

from agi_scripts.robot.check import check_loaded, check_script, load_script, load_script_dir
from agi_scripts.robot.engine import (
    CASE_ID_VARIABLE,
    CaseInfo,
    NodeVisit,
    Outcome,
    RobotOutcome,
    case_values,
    run_robot,
)
from agi_scripts.robot.script import Node, Problem, Script, ScriptError

__all__ = [
    "CASE_ID_VARIABLE",
    "CaseInfo",
    "Node",
    "NodeVisit",
    "Outcome",
    "Problem",
    "RobotOutcome",
    "Script",
    "ScriptError",
    "case_values",
    "check_loaded",
    "check_script",
    "load_script",
    "load_script_dir",
    "run_robot",
]
