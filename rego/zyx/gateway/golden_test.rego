# METADATA
# description: |
#   Golden decision cases from data.zyx.golden (rego/zyx/golden/data.json).
#   The same file drives the vitest suite that evaluates the built policy.wasm,
#   so both sides must give the same answers. A case's input is deep-merged
#   over base_input; its state, if any, over data.zyx.state.
package zyx.gateway_test

import data.zyx.gateway

_cases := data.zyx.golden.cases

_outcome(decision) := {
	"allow": decision.allow,
	"reasons": sort([r.code | some r in decision.reasons]),
	"approvers_required": decision.approval.approvers_required,
	"risk_band": decision.risk.band,
}

test_golden_cases_are_enough_and_named_once if {
	count(_cases) >= 30
	count({case.name | some case in _cases}) == count(_cases)
}

test_golden_cases_match_expected_decisions if {
	outcomes := {case.name: _outcome(decision) |
		some case in _cases
		decision := gateway.decision with input as object.union(data.zyx.golden.base_input, case.input)
			with data.zyx.state as object.union(data.zyx.state, object.get(case, "state", {}))
	}
	mismatches := {case.name: {"expected": case.expect, "actual": actual} |
		some case in _cases
		actual := object.get(outcomes, case.name, "undecided")
		actual != case.expect
	}
	print("golden mismatches:", mismatches)
	mismatches == {}
}
