# Unit tests of the decision: absent fields (which overlay-based golden cases
# cannot express), messages, risk factors and the approval object.
package zyx.gateway_test

import data.zyx.gateway

# Wednesday 2026-05-20 10:00 in Singapore.
_now := 1779242400

_engineer := {
	"principal": {
		"sub": "u-engineer",
		"email": "engineer@zyxbank.example",
		"groups": ["grp-ai-users", "grp-ai-devops-readonly"],
	},
	"agent": {"id": "change-reviewer"},
	"device": {"compliant": true, "checked_at": _now - 60},
	"tool": "jira_read",
	"arguments": {"ticket": "CHG-18422"},
	"context": {"now": _now, "workflow": "change-review", "session_tainted": false, "recent_denials": 0},
}

_sg_change := object.union(_engineer, {
	"principal": {"sub": "u-cloud", "groups": ["grp-ai-cloud-change-reviewers"]},
	"agent": {"id": "change-remediator"},
	"tool": "aws_modify_security_group",
	"arguments": {
		"account": "111122223333",
		"region": "ap-southeast-1",
		"group_id": "sg-0a1b2c3d4e5f60718",
		"change": {"action": "revoke_ingress", "protocol": "tcp", "port_range": "22", "cidr": "0.0.0.0/0"},
		"change_ticket": "CHG-18422",
		"rollback_plan": "Re-authorize the revoked rule.",
	},
})

_codes(decision) := {r.code | some r in decision.reasons}

test_allow_engineer_reads_ticket if {
	decision := gateway.decision with input as _engineer
	decision.allow
	decision.reasons == []
	decision.risk == {"score": 0, "band": "low", "factors": [{"factor": "tool_risk", "points": 0}]}
}

test_deny_when_input_is_empty if {
	decision := gateway.decision with input as {}
	not decision.allow
	_codes(decision) == {"tool_unknown", "device_not_compliant", "device_posture_stale"}
	decision.approval == {"required": false, "approvers_required": 0, "approver_groups": [], "fallback_groups": []}
}

test_deny_tool_unknown_names_the_tool if {
	decision := gateway.decision with input as object.union(_engineer, {"tool": "hr_read_records"})
	decision.reasons == [{"code": "tool_unknown", "message": "tool hr_read_records is not in the catalog"}]
}

test_deny_tool_missing_says_missing if {
	decision := gateway.decision with input as object.remove(_engineer, ["tool"])
	decision.reasons == [{"code": "tool_unknown", "message": "tool (missing) is not in the catalog"}]
}

test_deny_device_compliance_absent if {
	# object.union merges deeply: drop the device first so that "compliant" is really absent.
	device := {"checked_at": _now}
	decision := gateway.decision with input as object.union(object.remove(_engineer, ["device"]), {"device": device})
	_codes(decision) == {"device_not_compliant"}
}

test_deny_device_compliant_as_string if {
	decision := gateway.decision with input as object.union(_engineer, {"device": {"compliant": "true"}})
	_codes(decision) == {"device_not_compliant"}
}

test_deny_posture_age_without_clock if {
	decision := gateway.decision with input as object.union(_engineer, {"context": {"now": "now"}})
	decision.reasons == [{"code": "device_posture_stale", "message": "device posture age is unknown"}]
}

test_deny_posture_stale_says_limit if {
	decision := gateway.decision with input as object.union(_engineer, {"device": {"checked_at": _now - 3600}})
	decision.reasons == [{"code": "device_posture_stale", "message": "device posture is older than 900 seconds"}]
}

test_deny_slack_without_arguments if {
	slack := object.union(_engineer, {"tool": "slack_post_message"})
	decision := gateway.decision with input as object.remove(slack, ["arguments"])
	decision.reasons == [{
		"code": "channel_not_allowed",
		"message": "channel (missing) is not allowed for slack_post_message",
	}]
}

test_deny_aws_read_without_account if {
	decision := gateway.decision with input as object.union(_engineer, {"tool": "aws_dev_read", "arguments": {}})
	decision.reasons == [{
		"code": "account_not_allowed",
		"message": "AWS account (missing) is not allowed for aws_dev_read",
	}]
}

test_deny_sg_change_without_ticket_or_plan if {
	args := object.remove(_sg_change.arguments, ["change_ticket", "rollback_plan"])
	decision := gateway.decision with input as object.union(_sg_change, {"arguments": args})
		with input.arguments as args
	_codes(decision) == {"change_ticket_required", "rollback_plan_required", "approval_required"}
}

test_approval_names_groups_from_catalog if {
	decision := gateway.decision with input as _sg_change
	decision.approval == {
		"required": true,
		"approvers_required": 1,
		"approver_groups": ["grp-ai-prod-approvers"],
		"fallback_groups": ["grp-ai-security-oncall"],
		"mode": "before",
	}
	some reason in decision.reasons
	reason.code == "approval_required"
	reason.message == "aws_modify_security_group needs 1 approver(s) from grp-ai-prod-approvers"
}

test_risk_factors_add_up_for_sg_change if {
	decision := gateway.decision with input as object.union(_sg_change, {"context": {"session_tainted": true}})
	decision.risk.score == 8
	{f.factor: f.points | some f in decision.risk.factors} == {
		"tool_risk": 4,
		"write": 1,
		"environment": 0,
		"tainted_session": 3,
	}
}

test_risk_score_capped_at_ten if {
	worst := object.union(_sg_change, {
		"arguments": {"account": "777788889999"},
		"context": {"session_tainted": true, "recent_denials": 9, "now": _now + 43200},
		"device": {"checked_at": _now + 43200},
	})
	decision := gateway.decision with input as worst
	decision.risk.score == 10
	decision.approval.approvers_required == 2
}

test_deny_agent_missing_names_none if {
	decision := gateway.decision with input as object.remove(_engineer, ["agent"])
	decision.reasons == [{"code": "agent_not_permitted", "message": "agent (none) is not permitted to use jira_read"}]
}

test_deny_approval_without_approvers_list if {
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {}})
	_codes(decision) == {"approval_required"}
}

test_allow_approval_by_approver_in_any_listed_group if {
	approver := {"sub": "u-approver", "groups": ["grp-unrelated", "grp-ai-prod-approvers"]}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
	decision.allow
}

test_deny_approval_by_approver_without_subject if {
	approver := {"groups": ["grp-ai-prod-approvers"]}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
	_codes(decision) == {"approval_required"}
}

test_deny_workflow_kill_switch_names_workflow if {
	state := {"kill_switch": object.union(data.zyx.state.kill_switch, {"workflows": ["change-review"]})}
	decision := gateway.decision with input as _engineer with data.zyx.state as state
	decision.reasons == [{
		"code": "kill_switch_workflow",
		"message": "workflow change-review is disabled by the kill switch",
	}]
}

test_policy_revision_from_bundle_data if {
	decision := gateway.decision with input as _engineer with data.zyx.bundle.revision as "abc123"
	decision.policy_revision == "abc123"
}

test_policy_revision_empty_without_bundle_data if {
	decision := gateway.decision with input as _engineer
	decision.policy_revision == ""
}

test_no_decision_without_kill_switch_state if {
	not gateway.decision with input as _engineer with data.zyx.state as {}
}

test_no_decision_with_malformed_kill_switch_state if {
	state := {"kill_switch": object.union(data.zyx.state.kill_switch, {"users": "everyone"})}
	not gateway.decision with input as _engineer with data.zyx.state as state
}

test_deny_approval_by_approver_disabled_by_kill_switch if {
	approver := {"sub": "u-approver", "groups": ["grp-ai-prod-approvers"]}
	state := {"kill_switch": object.union(data.zyx.state.kill_switch, {"users": ["u-approver"]})}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
		with data.zyx.state as state
	_codes(decision) == {"approval_required"}
}

test_deny_approval_by_approver_disabled_by_kill_switch_email if {
	approver := {"sub": "u-approver", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]}
	users := ["approver@zyxbank.example"]
	state := {"kill_switch": object.union(data.zyx.state.kill_switch, {"users": users})}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
		with data.zyx.state as state
	_codes(decision) == {"approval_required"}
}

test_allow_approval_by_approver_whose_email_is_not_disabled if {
	approver := {"sub": "u-approver", "email": "approver@zyxbank.example", "groups": ["grp-ai-prod-approvers"]}
	users := ["someone.else@zyxbank.example"]
	state := {"kill_switch": object.union(data.zyx.state.kill_switch, {"users": users})}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
		with data.zyx.state as state
	decision.allow
}

test_deny_approval_by_requester_under_another_subject_with_the_same_email if {
	approver := {"sub": "u-second-account", "email": "engineer@zyxbank.example", "groups": ["grp-ai-prod-approvers"]}
	decision := gateway.decision with input as object.union(_sg_change, {"approval": {"approvers": [approver]}})
	_codes(decision) == {"approval_required"}
}

# --- Post-hoc review ------------------------------------------------------

# Saturday 2026-05-23 03:00 in Singapore.
_saturday_night := 1779476400

_slack_post := object.union(_engineer, {
	"tool": "slack_post_message",
	"arguments": {"channel": "devsecops-change-review", "text": "CHG-18422 needs review"},
	"device": {"checked_at": _saturday_night - 60},
	"context": {"now": _saturday_night},
})

_compensation := {
	"principal": {"sub": "system:zyx-gateway", "groups": ["grp-zyx-gateway-system"]},
	"agent": {"id": "post-hoc-reviewer"},
	"device": {"compliant": true, "checked_at": _saturday_night},
	"tool": "slack_delete_message",
	"arguments": {"channel": "C07DEVSECOPS", "ts": "1779476400.000100"},
	"context": {
		"now": _saturday_night, "workflow": "post-hoc-review", "system_call": true,
		"session_tainted": false, "recent_denials": 0,
	},
	"approval": {"approvers": [{"sub": "u-reviewer", "groups": ["grp-ai-change-approvers"]}]},
}

test_allow_post_hoc_slack_post_outside_business_hours if {
	decision := gateway.decision with input as _slack_post
	decision.allow
	decision.reasons == []
	decision.risk.score == 3
	decision.approval == {
		"required": true,
		"approvers_required": 1,
		"approver_groups": ["grp-ai-change-approvers"],
		"fallback_groups": ["grp-ai-security-oncall"],
		"mode": "post_hoc",
	}
}

test_allow_post_hoc_jira_comment_outside_business_hours if {
	post := object.union(_slack_post, {"tool": "jira_add_comment", "arguments": {"ticket": "CHG-18422", "body": "ok"}})
	decision := gateway.decision with input as object.union(post, {"arguments": {"channel": null}})
		with input.arguments as {"ticket": "CHG-18422", "body": "ok"}
	decision.allow
	decision.approval.mode == "post_hoc"
}

test_allow_slack_post_in_business_hours_without_review if {
	decision := gateway.decision with input as object.union(_slack_post, {
		"device": {"checked_at": _now - 60},
		"context": {"now": _now},
	})
	decision.allow
	decision.approval.required == false
	decision.approval.mode == "none"
}

test_deny_tainted_slack_post_waits_before if {
	decision := gateway.decision with input as object.union(_slack_post, {"context": {"session_tainted": true}})
	not decision.allow
	_codes(decision) == {"approval_required"}
	decision.approval.mode == "before"
}

test_deny_post_hoc_not_for_a_tool_without_the_option if {
	# The same risk on a tool the catalog does not mark post-hoc: the approver comes first.
	config := json.remove(data.zyx.config, ["tools/slack_post_message/post_hoc"])
	decision := gateway.decision with input as _slack_post with data.zyx.config as config
	_codes(decision) == {"approval_required"}
	decision.approval.mode == "before"
}

test_allow_post_hoc_always_in_business_hours_needs_one_approver if {
	# "always" applies in business hours too, but only when the risk asks for one approver.
	config := object.union(data.zyx.config, {"tools": {"slack_post_message": {"post_hoc": "always"}}})
	call := object.union(_slack_post, {"context": {"recent_denials": 3}, "device": {"checked_at": _now - 60}})
	decision := gateway.decision with input as call
		with input.context.now as _now
		with data.zyx.config as config
	decision.allow
	decision.approval.mode == "post_hoc"
}

test_deny_post_hoc_never_for_two_approvers if {
	denied := object.union(_slack_post, {"context": {"recent_denials": 5}})
	decision := gateway.decision with input as denied
		with data.zyx.config as object.union(data.zyx.config, {"risk": {"recent_denials_points": 6}})
	_codes(decision) == {"approval_required"}
	decision.approval.approvers_required == 2
	decision.approval.mode == "before"
}

test_allow_compensation_as_the_gateway_with_the_reviewer if {
	decision := gateway.decision with input as _compensation
	decision.allow
	decision.approval.mode == "before"
}

test_deny_compensation_without_the_reviewer if {
	decision := gateway.decision with input as object.remove(_compensation, ["approval"])
	_codes(decision) == {"approval_required"}
}

test_deny_system_agent_for_an_external_caller if {
	decision := gateway.decision with input as object.union(_compensation, {"context": {"system_call": false}})
	_codes(decision) == {"agent_not_permitted"}
}

test_deny_delete_tool_for_the_review_agent if {
	delete := {"tool": "slack_delete_message", "arguments": _compensation.arguments}
	decision := gateway.decision with input as object.union(_slack_post, delete)
		with input.arguments as _compensation.arguments
	_codes(decision) == {"user_not_in_group", "agent_not_permitted", "approval_required"}
}

test_deny_post_to_the_approvers_channel_even_if_the_catalog_lists_it if {
	config := data.zyx.config
	channel := config.approvals.notify_channel
	listed := object.union(config, {"tools": {"slack_post_message": {"allowed_channels": [channel]}}})
	post := object.union(_engineer, {"tool": "slack_post_message", "arguments": {"channel": channel, "text": "x"}})
	decision := gateway.decision with input as post with data.zyx.config as listed
	"channel_not_allowed" in {r.code | some r in decision.reasons}
}

test_allow_no_tool_lists_the_approvers_channel if {
	config := data.zyx.config
	every tool in config.tools {
		not config.approvals.notify_channel in object.get(tool, "allowed_channels", [])
	}
}

# The change replaces _sg_change's (object.union would merge the two changes' members).
_approved_sg(change) := object.union(
	object.union(_sg_change, {"approval": {"approvers": [{"sub": "u-approver", "groups": ["grp-ai-prod-approvers"]}]}}),
	{"arguments": object.union(object.remove(_sg_change.arguments, ["change"]), {"change": change})},
)

_authorize(port_range, cidr) := {
	"action": "authorize_ingress",
	"protocol": "tcp",
	"port_range": port_range,
	"cidr": cidr,
}

test_deny_sg_authorize_from_the_internet_even_approved if {
	every cidr in ["0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "8.8.8.0/24", "10.0.0.0/7"] {
		decision := gateway.decision with input as _approved_sg(_authorize("22", cidr))
		not decision.allow
		_codes(decision) == {"ingress_source_not_allowed"}
	}
}

# An IPv4-mapped IPv6 range (::ffff:10.0.0.0/104, canonical ::ffff:a00:0/104, which the schema
# accepts) is an IPv6 source: OPA's Go net.cidr_contains finds it within 10.0.0.0/8, the WASM
# build does not. The policy must not depend on which engine decides.
test_deny_sg_authorize_from_an_ipv4_mapped_ipv6_range if {
	every cidr in ["::ffff:a00:0/104", "::ffff:c0a8:0/112"] {
		decision := gateway.decision with input as _approved_sg(_authorize("22", cidr))
		not decision.allow
		_codes(decision) == {"ingress_source_not_allowed"}
	}
}

test_deny_sg_authorize_any_protocol_from_the_internet if {
	change := {"action": "authorize_ingress", "protocol": "-1", "port_range": "0-65535", "cidr": "::/0"}
	decision := gateway.decision with input as _approved_sg(change)
	_codes(decision) == {"ingress_source_not_allowed"}
	some reason in decision.reasons
	startswith(reason.message, "aws_modify_security_group may open ingress only from 10.0.0.0/8, ")
}

test_allow_sg_authorize_from_a_private_range if {
	every cidr in ["10.20.0.0/16", "172.16.4.0/24", "192.168.1.10/32", "fd12:3456::/48"] {
		decision := gateway.decision with input as _approved_sg(_authorize("22", cidr))
		decision.allow
	}
}

test_allow_sg_revoke_from_the_internet if {
	change := {"action": "revoke_ingress", "protocol": "tcp", "port_range": "22", "cidr": "0.0.0.0/0"}
	decision := gateway.decision with input as _approved_sg(change)
	decision.allow
}

test_deny_sg_authorize_without_a_source if {
	change := {"action": "authorize_ingress", "protocol": "tcp", "port_range": "22"}
	decision := gateway.decision with input as _approved_sg(change)
	not decision.allow
	"ingress_source_not_allowed" in _codes(decision)
}

_as_engineer(tool, arguments) := object.union(object.remove(_engineer, ["arguments"]), {
	"tool": tool,
	"arguments": arguments,
})

test_deny_jira_outside_the_change_project if {
	every tool in ["jira_read", "jira_add_comment"] {
		decision := gateway.decision with input as _as_engineer(tool, {"ticket": "HR-1042", "body": "x"})
		_codes(decision) == {"project_not_allowed"}
	}
}

test_deny_jira_without_a_ticket if {
	decision := gateway.decision with input as _as_engineer("jira_read", {})
	"project_not_allowed" in _codes(decision)
}

test_allow_jira_in_the_change_project if {
	decision := gateway.decision with input as _as_engineer("jira_read", {"ticket": "CHG-18422"})
	decision.allow
}

test_deny_confluence_outside_the_standards_space if {
	every arguments in [{"space": "HR"}, {"label": "salary-bands"}, {"space": "HR", "label": "x"}] {
		decision := gateway.decision with input as _as_engineer("confluence_read", arguments)
		_codes(decision) == {"space_not_allowed"}
	}
}

test_allow_confluence_in_the_standards_space if {
	decision := gateway.decision with input as _as_engineer("confluence_read", {"space": "SEC", "label": "aws"})
	decision.allow
}

test_deny_github_outside_the_reviewed_repositories if {
	arguments := {"repository": "zyx-bank/hr-payroll", "pull_request": 7}
	decision := gateway.decision with input as _as_engineer("github_read_pr", arguments)
	_codes(decision) == {"repository_not_allowed"}
}

test_allow_github_repository_in_any_case if {
	arguments := {"repository": "ZYX-Bank/Platform-Infra", "pull_request": 991}
	decision := gateway.decision with input as _as_engineer("github_read_pr", arguments)
	decision.allow
}

test_deny_sg_change_ticket_outside_the_change_project if {
	approved := _approved_sg(_sg_change.arguments.change)
	decision := gateway.decision with input as object.union(approved, {"arguments": {"change_ticket": "HR-1"}})
	_codes(decision) == {"change_ticket_required"}
	some reason in decision.reasons
	reason.message == "aws_modify_security_group requires a change ticket in CHG, not HR-1"
}

test_deny_compensation_in_business_hours_without_a_valid_reviewer if {
	in_hours := object.union(_compensation, {
		"device": {"checked_at": _now},
		"context": {"now": _now},
	})
	every call in [
		object.remove(in_hours, ["approval"]),
		object.union(in_hours, {"approval": {"approvers": [{"sub": "u-reviewer", "groups": ["grp-ai-users"]}]}}),
	] {
		decision := gateway.decision with input as call
		not decision.allow
		_codes(decision) == {"approval_required"}
	}
}
