// Provider token formats: credentials that announce themselves by a fixed prefix or shape, so
// finding one needs no surrounding context. Data only, read by common/secrets.ts.
//
// Transcribed from gitleaks' rule definitions (https://github.com/gitleaks/gitleaks,
// cmd/generate/config/rules/*.go; MIT licence, Copyright (c) 2019 Zachary Rice), rewritten for
// JavaScript: RE2 inline flags became RegExp flags, the trailing-context groups became
// lookaheads, and every rule was checked to stay linear (a fixed literal starts each match, and
// no quantified group can match the same text two ways).
//
// Invariants: each pattern is global, anchored on one of its `keywords` (a literal that
// common/secrets.ts uses to skip texts that cannot match; case-insensitively it must occur in
// every match), and matches exactly the secret (nothing to keep around it).

export interface ProviderTokenRule {
  /** The gitleaks rule (or rules) this one comes from. */
  readonly id: string;
  readonly kind: ProviderTokenKind;
  readonly pattern: RegExp;
  /** Literals, one of which every match contains (case-insensitively). */
  readonly keywords: readonly string[];
}

export const PROVIDER_TOKEN_KINDS = [
  "aws_access_key_id",
  "slack_token",
  "slack_webhook",
  "stripe_key",
  "gcp_api_key",
  "azure_client_secret",
  "azure_devops_pat",
  "atlassian_token",
] as const;

export type ProviderTokenKind = (typeof PROVIDER_TOKEN_KINDS)[number];

/** Where a token ends: not in the middle of a longer run of token characters. */
const END = String.raw`(?![A-Za-z0-9_-])`;

export const PROVIDER_TOKEN_RULES: readonly ProviderTokenRule[] = [
  {
    // aws-access-token: every documented key id prefix (user, session, role, group...).
    id: "aws-access-token",
    kind: "aws_access_key_id",
    pattern: /\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g,
    keywords: ["A3T", "AKIA", "ASIA", "ABIA", "ACCA"],
  },
  {
    // slack-bot/user/app/legacy/config tokens: xoxb-, xoxp-, xoxe-, xoxa-, xoxo-, xoxs-,
    // xoxr-, xoxc-, and app-level xapp-N-. The legacy xoxo-/xoxs- only in their numeric
    // shape ("xoxo" is also a word).
    id: "slack-bot-token,slack-user-token,slack-legacy-token,slack-app-token",
    kind: "slack_token",
    pattern:
      /\b(?:xox[abcepr]-[A-Za-z0-9-]{10,}|xox[os]-\d+-\d+-\d+-[A-Fa-f0-9]+|xapp-\d-[A-Za-z0-9-]{10,})/g,
    keywords: ["xoxa-", "xoxb-", "xoxc-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-"],
  },
  {
    id: "slack-webhook-url",
    kind: "slack_webhook",
    pattern:
      /(?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/]{43,56}/g,
    keywords: ["hooks.slack.com"],
  },
  {
    id: "stripe-access-token",
    kind: "stripe_key",
    pattern: new RegExp(String.raw`\b(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}${END}`, "g"),
    keywords: ["sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_"],
  },
  {
    id: "gcp-api-key",
    kind: "gcp_api_key",
    pattern: new RegExp(String.raw`\bAIza[A-Za-z0-9_-]{35}${END}`, "g"),
    keywords: ["AIza"],
  },
  {
    // azure-ad-client-secret: three characters, a digit, "Q~", then 31-34 more.
    id: "azure-ad-client-secret",
    kind: "azure_client_secret",
    pattern: /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g,
    keywords: ["Q~"],
  },
  {
    // Azure DevOps personal access token, the 84-character format with its "AZDO" signature.
    id: "azure-devops-pat",
    kind: "azure_devops_pat",
    pattern: /\b[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}\b/g,
    keywords: ["AZDO"],
  },
  {
    // atlassian-api-token: the ATATT3 (API token) and ATCTT3 (scoped) formats.
    id: "atlassian-api-token",
    kind: "atlassian_token",
    pattern: new RegExp(String.raw`\bAT[AC]TT3[A-Za-z0-9_=-]{150,}${END}`, "g"),
    keywords: ["ATATT3", "ATCTT3"],
  },
];
