# Unit tests of argument rules that equivalent spellings must not sidestep. Shares the
# package (and its helpers: _sg_change, _approved_sg, _codes) with decision_test.rego.
package zyx.gateway_test

import data.zyx.gateway

# A rollback plan that shows nothing is no plan: zero-width and joiner characters, the soft
# hyphen, a lone combining mark, the Hangul fillers and the braille blank are not whitespace, so
# trimming leaves them, and the gateway's schema (which refuses only a blank or control-laden
# text) lets them through.
_invisible_plans := [
	"\u200b", "\u200d\u200c", "\u2060", "\u00ad", "\u034f", "\u180e",
	"\u3164", "\u115f\u1160", "\uffa0", "\u2800", " \u200b\n\u2800 ",
]

test_deny_sg_change_with_an_invisible_rollback_plan if {
	every plan in _invisible_plans {
		approved := _approved_sg(_sg_change.arguments.change)
		decision := gateway.decision with input as object.union(approved, {"arguments": {"rollback_plan": plan}})
		not decision.allow
		_codes(decision) == {"rollback_plan_required"}
	}
}

test_allow_sg_change_with_a_rollback_plan_in_any_script if {
	every plan in ["Re-authorize the revoked rule.", "撤销", "\u200bRe-authorize", "-"] {
		approved := _approved_sg(_sg_change.arguments.change)
		decision := gateway.decision with input as object.union(approved, {"arguments": {"rollback_plan": plan}})
		decision.allow
	}
}
