# METADATA
# title: ZYX agent gateway tool-call decision
# description: |
#   Decides one tool call that an AI agent asks for on behalf of a verified user.
#   Deny by default: `allow` is true only when no reason applies.
#   Facts (tool catalog, agents, accounts, thresholds) live in data.zyx.config;
#   runtime state (the kill switch) lives in data.zyx.state.
package zyx.gateway

_config := data.zyx.config

_kill_switch := data.zyx.state.kill_switch

_tool := _config.tools[input.tool]

_tool_known if _tool

_agent_id := input.agent.id

# METADATA
# title: Decision
# description: The one entry point that the gateway evaluates.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": [r | some r in reasons],
	"approval": approval,
	"risk": risk,
	"policy_revision": policy_revision,
} if {
	# No kill-switch state (a policy server that lost the data pushed to it): no decision at
	# all, which the gateway turns into a deny, rather than a decision blind to the kill switch.
	_kill_switch_loaded
}

_kill_switch_loaded if {
	is_boolean(_kill_switch.all_writes)
	every scope in ["read_only_agents", "connectors", "users", "agents", "workflows"] {
		is_array(_kill_switch[scope])
	}
}

# METADATA
# scope: document
# title: Allow
# description: True only when every rule is met and no reason applies.
default allow := false

allow if {
	_tool_known
	count(reasons) == 0
}

# METADATA
# scope: document
# title: Policy revision
# description: The revision stamped into the bundle when it was built.
default policy_revision := ""

policy_revision := data.zyx.bundle.revision

# METADATA
# scope: document
# title: Reasons
# description: Every reason that applies to this call, each {code, message}.
reasons contains _reason("tool_unknown", msg) if {
	not _tool_known
	msg := sprintf("tool %s is not in the catalog", [_tool_label])
}

reasons contains _reason("user_not_in_group", msg) if {
	_tool_known
	not _user_in_allowed_group
	msg := sprintf("user is not in any group allowed to use %s", [input.tool])
}

reasons contains _reason("agent_not_permitted", msg) if {
	_tool_known
	not _agent_permitted
	msg := sprintf("agent %s is not permitted to use %s", [_agent_label, input.tool])
}

# A system agent (the gateway's own compensations) is never an external caller's agent.
reasons contains _reason("agent_not_permitted", msg) if {
	_tool_known
	_config.agents[_agent_id].system == true
	not _system_call
	msg := sprintf("agent %s acts only for the gateway itself", [_agent_label])
}

reasons contains _reason("device_not_compliant", "device is not compliant") if not _device_compliant

reasons contains _reason("device_posture_stale", msg) if {
	_posture_age > _config.posture.max_age_seconds
	msg := sprintf("device posture is older than %d seconds", [_config.posture.max_age_seconds])
}

reasons contains _reason("device_posture_stale", "device posture age is unknown") if not _posture_age_known

reasons contains _reason("device_posture_stale", "device posture check time is in the future") if {
	_posture_age < 0 - _config.posture.future_skew_seconds
}

reasons contains _reason("kill_switch_user", "user is disabled by the kill switch") if {
	input.principal.sub in _kill_switch.users
}

reasons contains _reason("kill_switch_user", "user is disabled by the kill switch") if {
	input.principal.email in _kill_switch.users
}

reasons contains _reason("kill_switch_agent", msg) if {
	_agent_id in _kill_switch.agents
	msg := sprintf("agent %s is disabled by the kill switch", [_agent_label])
}

reasons contains _reason("kill_switch_connector", msg) if {
	_tool.connector in _kill_switch.connectors
	msg := sprintf("connector %s is disabled by the kill switch", [_tool.connector])
}

reasons contains _reason("kill_switch_workflow", msg) if {
	input.context.workflow in _kill_switch.workflows
	msg := sprintf("workflow %s is disabled by the kill switch", [_context_text("workflow")])
}

reasons contains _reason("kill_switch_all_writes", "all write tools are disabled by the kill switch") if {
	_tool.write
	_kill_switch.all_writes == true
}

reasons contains _reason("read_only_mode", msg) if {
	_tool.write
	_agent_id in _kill_switch.read_only_agents
	msg := sprintf("agent %s is in read-only mode", [_agent_label])
}

reasons contains _reason("channel_not_allowed", msg) if {
	_tool.allowed_channels
	not _channel_allowed
	msg := sprintf("channel %s is not allowed for %s", [_argument_text("channel"), input.tool])
}

reasons contains _reason("account_not_allowed", msg) if {
	_tool.allowed_accounts
	not _account_allowed
	msg := sprintf("AWS account %s is not allowed for %s", [_argument_text("account"), input.tool])
}

reasons contains _reason("project_not_allowed", msg) if {
	_tool.allowed_projects
	not _project_allowed
	msg := sprintf("Jira ticket %s is not in a project allowed for %s (%s)", [
		_argument_text("ticket"),
		input.tool,
		concat(", ", _tool.allowed_projects),
	])
}

reasons contains _reason("space_not_allowed", msg) if {
	_tool.allowed_spaces
	not _space_allowed
	msg := sprintf("%s reads only the Confluence space(s) %s, named (not a search of every space)", [
		input.tool,
		concat(", ", _tool.allowed_spaces),
	])
}

reasons contains _reason("repository_not_allowed", msg) if {
	_tool.allowed_repositories
	not _repository_allowed
	msg := sprintf("repository %s is not allowed for %s", [_argument_text("repository"), input.tool])
}

reasons contains _reason("ingress_source_not_allowed", msg) if {
	_tool.allowed_ingress_sources
	input.arguments.change.action == "authorize_ingress"
	not _ingress_source_allowed
	msg := sprintf("%s may open ingress only from %s", [
		input.tool,
		concat(", ", _tool.allowed_ingress_sources),
	])
}

reasons contains _reason("production_blocked", msg) if {
	_tool.production_allowed == false
	_account_environment == "production"
	msg := sprintf("%s is blocked in production", [input.tool])
}

reasons contains _reason("change_ticket_required", msg) if {
	_tool.change_ticket_required
	not _change_ticket_given
	msg := sprintf("%s requires a change ticket", [input.tool])
}

reasons contains _reason("change_ticket_required", msg) if {
	_tool.change_ticket_required
	_change_ticket_given
	_tool.change_ticket_projects
	not _change_ticket_in_project
	msg := sprintf("%s requires a change ticket in %s, not %s", [
		input.tool,
		concat(", ", _tool.change_ticket_projects),
		_argument_text("change_ticket"),
	])
}

reasons contains _reason("rollback_plan_required", msg) if {
	_tool.rollback_plan_required
	not _rollback_plan_given
	msg := sprintf("%s requires a rollback plan", [input.tool])
}

reasons contains _reason("approval_required", msg) if {
	approval.required
	not _approval_satisfied
	not _post_hoc
	msg := sprintf("%s needs %d approver(s) from %s", [
		input.tool,
		approval.approvers_required,
		concat(", ", approval.approver_groups),
	])
}

_reason(code, message) := {"code": code, "message": message}

default _agent_label := "(none)"

_agent_label := _agent_id if is_string(_agent_id)

default _tool_label := "(missing)"

_tool_label := input.tool if is_string(input.tool)

# Message helpers take constant names, never possibly-undefined values:
# a function called with an undefined argument is undefined, and so would be the reason.
default _argument_text(_) := "(missing)"

_argument_text(name) := input.arguments[name] if is_string(input.arguments[name])

default _context_text(_) := "(missing)"

_context_text(name) := input.context[name] if is_string(input.context[name])

# Helpers negated above are rules without arguments: `not` over an undefined
# argument or operand would be undefined itself, and the reason would be lost.
_device_compliant if input.device.compliant == true

_posture_age_known if {
	is_number(input.context.now)
	is_number(input.device.checked_at)
}

# The approvers' channel is the gateway's alone: an agent's post there could pass for an approval
# notice (same bot, same layout, a button to anywhere), whatever the catalog lists.
_channel_allowed if {
	input.arguments.channel in _tool.allowed_channels
	input.arguments.channel != _config.approvals.notify_channel
}

_account_allowed if _account_alias in _tool.allowed_accounts

# By containment, not by spelling: 0.0.0.0/1 and 128.0.0.0/1 are the Internet's halves, and ::/0
# is all of it. An IPv6 source is never within an IPv4 range, nor the other way round: checked
# here, as OPA's Go net.cidr_contains finds ::ffff:a00:0/104 (IPv4-mapped) within 10.0.0.0/8
# where the WASM build does not.
_ingress_source_allowed if {
	some range in _tool.allowed_ingress_sources
	contains(range, ":") == contains(input.arguments.change.cidr, ":")
	net.cidr_contains(range, input.arguments.change.cidr)
}

_change_ticket_given if _non_empty_string(input.arguments.change_ticket)

# A Jira key's project: CHG of CHG-18422 (the schema holds the key to PROJECT-NUMBER).
_project_of(key) := split(key, "-")[0] if is_string(key)

_project_allowed if _project_of(input.arguments.ticket) in _tool.allowed_projects

_change_ticket_in_project if _project_of(input.arguments.change_ticket) in _tool.change_ticket_projects

# Named: a label-only query searches every space.
_space_allowed if input.arguments.space in _tool.allowed_spaces

_repository_allowed if {
	some allowed in _tool.allowed_repositories
	lower(allowed) == lower(input.arguments.repository)
}

_rollback_plan_given if _non_empty_string(input.arguments.rollback_plan)

_non_empty_string(value) if {
	is_string(value)
	not regex.match(_shows_nothing, value)
}

# Text that shows nothing: whitespace, controls and format characters (zero-width, joiners, soft
# hyphen, tags), bare marks, and what is drawn blank (Hangul fillers, braille blank, null notehead).
_shows_nothing := `^[\s\p{Z}\p{C}\p{M}\x{115F}\x{1160}\x{3164}\x{FFA0}\x{2800}\x{1D159}]*$`

_user_in_allowed_group if {
	some group in input.principal.groups
	group in _tool.allowed_groups
}

_agent_permitted if input.tool in _config.agents[_agent_id].tools

_posture_age := input.context.now - input.device.checked_at

# --- AWS accounts ---------------------------------------------------------

_account_alias := alias if {
	some alias, account in _config.aws_accounts
	account.id == input.arguments.account
}

_account_environment := _config.aws_accounts[_account_alias].environment

# --- Business hours (epoch seconds shifted to the bank's fixed offset) ---

_local_seconds := input.context.now + (_config.business_hours.utc_offset_minutes * 60)

_local_day := floor(_local_seconds / 86400)

# ISO weekday: 1 = Monday ... 7 = Sunday; 1970-01-01 was a Thursday (4).
_local_weekday := ((_local_day + 3) % 7) + 1

_local_hour := floor((_local_seconds - (_local_day * 86400)) / 3600)

_in_business_hours if {
	_local_weekday in _config.business_hours.weekdays
	_local_hour >= _config.business_hours.start_hour
	_local_hour < _config.business_hours.end_hour
}

# --- Risk -----------------------------------------------------------------

_risk_config := _config.risk

_factors contains {"factor": "tool_risk", "points": _risk_config.tool_risk_points[_tool.risk]}

_factors contains {"factor": "write", "points": _risk_config.write_points} if _tool.write

_factors contains {"factor": "environment", "points": _risk_config.environment_points[_account_environment]}

_factors contains {"factor": "outside_business_hours", "points": _risk_config.outside_business_hours_points} if {
	is_number(input.context.now)
	not _in_business_hours
}

_factors contains {"factor": "recent_denials", "points": _risk_config.recent_denials_points} if {
	input.context.recent_denials >= _risk_config.recent_denials_threshold
}

_factors contains {"factor": "tainted_session", "points": _risk_config.tainted_session_points} if {
	_tool.write
	input.context.session_tainted == true
}

_raw_score := sum([f.points | some f in _factors])

_score := min([_raw_score, _risk_config.max_score])

# METADATA
# title: Risk
# description: A 0-10 score and the factors it came from.
risk := {
	"score": _score,
	"band": _band,
	"factors": [f | some f in _factors],
}

default _band := "low"

_band := "high" if _approvers_by_score == 2

_band := "medium" if _approvers_by_score == 1

# --- Approval -------------------------------------------------------------

default _approvers_by_score := 0

_approvers_by_score := 2 if _score >= _risk_config.two_approvers_from

_approvers_by_score := 1 if {
	_score >= _risk_config.one_approver_from
	_score < _risk_config.two_approvers_from
}

default _approvers_floor := 0

# A tool that the catalog marks for approval always needs one approver.
_approvers_floor := 1 if _tool.approval_required == true

# A session that read content flagged as prompt injection may not write unapproved.
_approvers_floor := 1 if {
	_tool.write
	input.context.session_tainted == true
}

# The gateway's own call (a rejected post-hoc review's compensation) acts on its reviewer's
# rejection: that reviewer must count as an approver whatever the hour's risk, or a reviewer the
# kill switch disabled after rejecting would still have their compensation run in business hours.
_approvers_floor := 1 if _system_call

_approvers_required := max([_approvers_by_score, _approvers_floor])

# METADATA
# scope: document
# title: Approval
# description: Whether human approval is needed, how many approvers and from which groups.
default approval := {
	"required": false,
	"approvers_required": 0,
	"approver_groups": [],
	"fallback_groups": [],
}

approval := {
	"required": _approvers_required > 0,
	"approvers_required": _approvers_required,
	"approver_groups": _tool.approval_groups,
	"fallback_groups": _tool.fallback_groups,
	"mode": _approval_mode,
} if {
	_tool_known
	_tool.approval_groups
}

# Who counts as an approver, and when enough have approved: approvers.rego.

_system_call if input.context.system_call == true

# --- Post-hoc review ------------------------------------------------------

# "none": no approver; "before": the call waits for its approvers; "post_hoc": it runs now and
# its approvers review it afterwards (a rejection runs the compensation).
default _approval_mode := "none"

_approval_mode := "before" if {
	_approvers_required > 0
	not _post_hoc
}

_approval_mode := "post_hoc" if _post_hoc

# Only what the risk alone sends to exactly one approver: never a tool the catalog always holds
# for approval, never a tainted session's write, never a call that already has its approvers.
_post_hoc if {
	_tool.write
	not _tool.approval_required
	_approvers_by_score == 1
	_approvers_floor == 0
	count(_valid_approvers) == 0
	_post_hoc_applies
}

_post_hoc_applies if _tool.post_hoc == "always"

_post_hoc_applies if {
	_tool.post_hoc == "outside_business_hours"
	is_number(input.context.now)
	not _in_business_hours
}
