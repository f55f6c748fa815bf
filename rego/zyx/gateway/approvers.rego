# The approvers of a call (input.approval.approvers) that count toward its decision, and when
# enough of them have approved. Part of the decision in decision.rego.
package zyx.gateway

# An approval counts approvers who are distinct, not the requester, not disabled by the kill
# switch (by subject or by email, as the kill switch names users), and in one of the tool's
# approver or fallback groups.
_counted_approvers contains approver if {
	some approver in input.approval.approvers
	is_string(approver.sub)
	not _approver_is_requester(approver)
	not _approver_disabled(approver)
	some group in approver.groups
	group in array.concat(_tool.approval_groups, _tool.fallback_groups)
}

_valid_approvers contains approver.sub if some approver in _counted_approvers

# Two approvers are two people: neither the same subject nor, as the requester is recognised, the
# same email (one person's second account). The risk never asks for more than two.
_two_people_approved if {
	some a in _counted_approvers
	some b in _counted_approvers
	a.sub != b.sub
	not _same_email(a, b)
}

# E-mail addresses are compared without case: identity providers keep the spelling a person was
# registered with, and Alice@ and alice@ reach one mailbox.
_same_email(a, b) if {
	is_string(a.email)
	is_string(b.email)
	lower(a.email) == lower(b.email)
}

_approver_is_requester(approver) if approver.sub == input.principal.sub

_approver_is_requester(approver) if {
	is_string(approver.email)
	is_string(input.principal.email)
	lower(approver.email) == lower(input.principal.email)
}

_approver_disabled(approver) if approver.sub in _kill_switch.users

_approver_disabled(approver) if approver.email in _kill_switch.users

_approval_satisfied if {
	approval.approvers_required <= 1
	count(_valid_approvers) >= approval.approvers_required
}

_approval_satisfied if {
	approval.approvers_required == 2
	_two_people_approved
}
