// The review's rule table: data, not code. Each rule the analysis can raise (analysis.ts decides
// WHETHER it applies, from the pull request's added Terraform lines and the ticket) maps here to
// what the review SAYS: the finding, its severity, the approvals it calls for and the
// remediation. The review's lists follow this table's order, so the output is the same whatever
// order the files of a pull request come in.
//
// The texts of the first five rules are the walkthrough's (the seed's expected review of
// CHG-18422 / platform-infra#991), word for word.

export type Severity = "High" | "Medium" | "Low";

/** Highest first: the risk rating of a review is its most severe finding's severity. */
export const SEVERITIES: readonly Severity[] = ["High", "Medium", "Low"];

export type ApprovalId = "cloud_security" | "platform_owner" | "change_manager";

export interface ApprovalEntry {
  id: ApprovalId;
  /** As it appears under "Required approvals". */
  text: string;
  /** Who reviews, as the Slack summary names them. */
  reviewer: string;
}

/** The approvals, in the order a review lists them. */
export const APPROVALS: readonly ApprovalEntry[] = [
  { id: "cloud_security", text: "Cloud Security approval", reviewer: "Cloud Security" },
  { id: "platform_owner", text: "Platform owner approval", reviewer: "platform owner" },
  {
    id: "change_manager",
    text: "Change manager approval before production promotion",
    reviewer: "change manager",
  },
];

export type RuleId =
  | "s3_public_access_block_missing"
  | "iam_wildcard_action"
  | "admin_port_open_ipv4"
  | "admin_port_open_ipv6"
  | "admin_port_source_unknown"
  | "log_retention_missing"
  | "rds_publicly_accessible"
  | "ebs_unencrypted"
  | "rollback_plan_missing"
  | "terraform_unreadable";

export interface Rule {
  id: RuleId;
  finding: string;
  severity: Severity;
  approvals: readonly ApprovalId[];
  remediation: string;
  /** The risk in a few words, for the Slack summary ("High-risk items: ..."). */
  label: string;
  /** The Confluence security standard it enforces, when there is one. */
  standard?: string;
}

export const RULES: readonly Rule[] = [
  {
    id: "s3_public_access_block_missing",
    finding: "S3 bucket does not explicitly enforce public access block.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Add S3 public access block.",
    label: "public exposure risk",
    standard: "SEC-STD-001",
  },
  {
    id: "iam_wildcard_action",
    finding: "IAM policy includes wildcard actions. Least privilege review required.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Replace wildcard IAM actions with explicit actions.",
    label: "IAM wildcard policy",
    standard: "SEC-STD-002",
  },
  {
    id: "admin_port_open_ipv4",
    finding: "Security group allows inbound access from 0.0.0.0/0 on an administrative port.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Restrict security group source to approved network ranges.",
    label: "public exposure risk",
    standard: "SEC-STD-003",
  },
  {
    id: "admin_port_open_ipv6",
    finding: "Security group allows inbound access from ::/0 on an administrative port.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Restrict security group source to approved network ranges.",
    label: "public exposure risk",
    standard: "SEC-STD-003",
  },
  {
    // Not a confirmed exposure, not a pass: an ingress rule that would open an administrative
    // port whose source (or whose port, from a world-open source) comes from a variable or local
    // the pull request does not set. Medium: the review cannot say the port is open to the
    // world, but the value is chosen at apply time (a -var, TF_VAR_, a variable file outside the
    // pull request), so Cloud Security must see it before it is applied.
    id: "admin_port_source_unknown",
    finding:
      "Security group opens an administrative port to a source or port set outside the pull request; it could not be verified.",
    severity: "Medium",
    approvals: ["cloud_security"],
    remediation:
      "Set the ingress source in the pull request, or confirm the value applied is an approved network range.",
    label: "unverified ingress source",
    standard: "SEC-STD-003",
  },
  {
    id: "log_retention_missing",
    finding: "CloudWatch log retention is not defined.",
    severity: "Medium",
    approvals: ["platform_owner"],
    remediation: "Define CloudWatch log retention.",
    label: "undefined log retention",
    standard: "SEC-STD-004",
  },
  {
    id: "rds_publicly_accessible",
    finding: "RDS database instance is publicly accessible.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Set publicly_accessible to false and reach the database over private networks.",
    label: "public database endpoint",
  },
  {
    id: "ebs_unencrypted",
    finding: "EBS volume is not encrypted at rest.",
    severity: "Medium",
    approvals: ["cloud_security"],
    remediation: "Enable encryption on the EBS volume.",
    label: "unencrypted storage",
  },
  {
    id: "rollback_plan_missing",
    finding: "Rollback plan is missing from the Jira change ticket.",
    severity: "High",
    approvals: ["change_manager"],
    remediation: "Add rollback plan to the Jira change.",
    label: "missing rollback plan",
    standard: "SEC-STD-005",
  },
  {
    // Not a clean bill of health: Terraform the review could not read (a diff cut at the
    // worker's budget or omitted by GitHub, or Terraform's JSON syntax) is Terraform nobody
    // reviewed.
    id: "terraform_unreadable",
    finding: "Part of the pull request's Terraform could not be analysed and was not reviewed.",
    severity: "High",
    approvals: ["cloud_security"],
    remediation: "Review the unanalysed Terraform by hand, or split the pull request.",
    label: "unreviewed Terraform",
  },
];

/**
 * Ports that administer a host or a platform: remote shells and desktops, Windows management,
 * file sharing, container and cluster control planes. Opening one of them to the whole Internet
 * is the finding; 443 or 80 to the world is not.
 */
export const ADMIN_PORTS: ReadonlyMap<number, string> = new Map([
  [22, "SSH"],
  [23, "Telnet"],
  [135, "Microsoft RPC"],
  [139, "NetBIOS session"],
  [445, "SMB"],
  [2375, "Docker API"],
  [2376, "Docker API (TLS)"],
  [3389, "RDP"],
  [5900, "VNC"],
  [5985, "WinRM (HTTP)"],
  [5986, "WinRM (HTTPS)"],
  [6443, "Kubernetes API"],
  [10250, "kubelet API"],
]);

/** The Slack channel a review's summary goes to. */
export const REVIEW_CHANNEL = "devsecops-change-review";
