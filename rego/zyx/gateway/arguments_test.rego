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

# --- Distinct approvers ---------------------------------------------------

# Staging, after recent denials: a score of 8, two approvers.
_sg_two_approvers(approvers) := object.union(_sg_change, {
	"arguments": {"account": "444455556666"},
	"context": {"recent_denials": 3},
	"approval": {"approvers": approvers},
})

# One person is one approver, whatever the subject: a second account with the same e-mail (the
# person who is the requester under another subject is not counted either) is the same person.
test_deny_two_approvers_who_are_one_person_under_two_subjects if {
	decision := gateway.decision with input as _sg_two_approvers([
		{"sub": "u-approver-1", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]},
		{"sub": "u-approver-1-admin", "email": "approver@zyxbank.example", "groups": ["grp-ai-security-oncall"]},
	])
	decision.approval.approvers_required == 2
	not decision.allow
	_codes(decision) == {"approval_required"}
}

test_deny_two_approvers_whose_emails_differ_only_in_case if {
	decision := gateway.decision with input as _sg_two_approvers([
		{"sub": "u-approver-1", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]},
		{"sub": "u-approver-1-admin", "email": "Approver@ZYXBank.example", "groups": ["grp-ai-security-oncall"]},
	])
	not decision.allow
	_codes(decision) == {"approval_required"}
}

test_deny_approval_by_the_requester_under_another_email_case if {
	input_ := object.union(
		_sg_two_approvers([
			{"sub": "u-approver-1", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]},
			{"sub": "u-other", "email": "ENGINEER@zyxbank.example", "groups": ["grp-ai-security-oncall"]},
		]),
		{"principal": {"email": "engineer@zyxbank.example"}},
	)
	decision := gateway.decision with input as input_
	not decision.allow
}

test_allow_two_approvers_who_are_two_people if {
	every second in [
		{"sub": "u-approver-2", "email": "second@zyxbank.example", "groups": ["grp-ai-prod-approvers"]},
		{"sub": "u-approver-2", "groups": ["grp-ai-security-oncall"]},
	] {
		decision := gateway.decision with input as _sg_two_approvers([
			{"sub": "u-approver-1", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]},
			second,
		])
		decision.approval.approvers_required == 2
		decision.allow
	}
}
