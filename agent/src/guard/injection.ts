// Prompt-injection indicators in retrieved text: words aimed at the model, not at the engineer
// who reads a ticket, a pull request or a standard. The worker flags them (the session becomes
// tainted and the policy asks for approval before any write); it does not remove them: the
// reviewer must still see what the document says.
//
// Matching is on a normalised copy of each string: Unicode NFKC (full-width letters become
// ASCII), invisible characters removed (a zero-width space inside "ignore" hides nothing),
// typographic apostrophes straightened, Markdown emphasis dropped, lower case, every run of
// white space (line breaks included) one space. Each indicator is a stable id.
//
// Precision matters as much as recall: a false positive taints a legitimate review. So the
// patterns want the imperative aimed at an assistant ("ignore all previous instructions",
// "reveal your system prompt"), not the words alone: "ignore whitespace in the diff", "export
// the logs to CloudWatch", "disable public access on the bucket", "requires Cloud Security
// approval" and "Do not disable audit logging" are ordinary change-review prose.
//
// Tool results carry attacks written for the model that reads them (AgentDojo, BIPIA): a message
// "to you, the AI", forged "(system_message)" markers, requests to shape "your answer" (another
// language, an encoding, emojis, an inserted claim, content changed to promote or mislead) or to
// splice "the following code snippet" into "your solution", and to-dos that send data to an
// outside address or money to an account. Each is its own indicator; none fires on the words
// alone ("include the ticket number in your reply" is not one), and new ids are appended to the
// list so existing ones keep their order.
//
// Failure modes: none throws (pure regular expressions on strings); a miss leaves the session
// untainted, a false positive holds its writes for approval; both are measured on public data.
//
// Cost: every pattern starts with a literal word and uses only bounded repetition, and the
// scan of a string is a fixed number of passes over it, so time grows linearly with the input.

/** The indicator ids, in the order they are reported. */
export const INJECTION_INDICATORS = [
  "ignore_previous_instructions",
  "disregard_system_prompt",
  "role_override",
  "new_instructions",
  "chat_template_tokens",
  "privileged_mode",
  "reveal_system_prompt",
  "bulk_export",
  "exfiltration_url",
  "exfiltrate",
  "disable_logging",
  "approval_manipulation",
  "conceal_from_user",
  "hidden_html_comment",
  "zero_width_characters",
  "unicode_tag_characters",
  "addressed_to_model",
  "system_message_marker",
  "output_manipulation",
  "code_insertion",
  "planted_task",
] as const;

export type InjectionIndicator = (typeof INJECTION_INDICATORS)[number];

/** Hosts a "send ... to <url>" may name without being flagged (the host or its subdomains). */
export const DEFAULT_INTERNAL_DOMAINS: readonly string[] = ["zyxbank.example", "zyx.atlassian.net"];

export interface InjectionScanOptions {
  /** Replaces DEFAULT_INTERNAL_DOMAINS. */
  internalDomains?: readonly string[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/**
 * Zero-width and other invisible characters: every format character (Cf: zero-width, bidi marks,
 * embeddings and isolates, U+206A-U+206F...), variation selectors, Hangul fillers, CGJ.
 */
const INVISIBLE = /[\p{Cf}\p{Variation_Selector}\u115F\u1160\u3164\uFFA0]|\u034F/gu;
/** Unicode tag characters (U+E0000-E007F): invisible ASCII look-alikes ("ASCII smuggling"). */
const TAG_CHARACTERS = /[\u{E0000}-\u{E007F}]/gu;
const HAS_TAG_CHARACTER = /[\u{E0000}-\u{E007F}]/u;
/** A flag emoji (England, Scotland, Wales...) is the one legitimate use of tag characters. */
const TAG_FLAG_SEQUENCE = /\u{1F3F4}[\u{E0020}-\u{E007E}]{1,12}\u{E007F}/gu;

function normalise(text: string): string {
  return (
    text
      .normalize("NFKC")
      .replace(INVISIBLE, "")
      .replace(TAG_CHARACTERS, "")
      .replace(/[\u2018\u2019\u02BC]/g, "'")
      .replace(/[*`~]/g, " ")
      // Underscore emphasis (_x_, __x__): an underscore at a word's edge, not inside im_start.
      .replace(/(?<![\p{L}\p{N}])_+|_+(?![\p{L}\p{N}])/gu, " ")
      .toLowerCase()
      .replace(/\s+/g, " ")
  );
}

// ---------------------------------------------------------------------------------------------
// The phrase patterns (on normalised text)

/** A negation just before the verb: "do not disable audit logging" is advice, not an order. */
const NOT_NEGATED = String.raw`(?<!\b(?:not|never|no|don't|dont|cannot|can't|mustn't|shouldn't|won't) )`;
/** Verbs that ask for the model's own instructions back. */
const REVEAL_VERB = String.raw`repeat|print|output|display|show|reveal|recite|paste|dump|tell me|give me|write out|write down|reply back with|reply with|respond with|return`;
/** Verbs that ask for them in another form: only with a qualifier ("so far", "initial"). */
const RESTATE_VERB = String.raw`list|format|convert|explain|summari[sz]e|translate|rewrite|spell out`;
/** The model's own instructions, qualified: "the instructions so far", "prior instructions". */
const QUALIFIED_INSTRUCTIONS = String.raw`(?:your|the) (?:[a-z]+ )?(?:instructions?|prompt|rules|directives) (?:so far|above|you (?:have been|were|got) given|(?:with which|that) you)|your (?:initial|initials|original|hidden|secret|additional|full|complete|exact|system|pre-?) ?(?:instructions?|prompt)\b|(?:all )?(?:your |the )?(?:prior|previous|above|initial|earlier|preceding) (?:instructions?|prompts?)\b|(?:every|all|each) instructions? you (?:have been|were) given`;
const OWN_INSTRUCTIONS = String.raw`${QUALIFIED_INSTRUCTIONS}|your (?:instructions|prompt)\b`;

/** Up to `n` words (bounded: no catastrophic backtracking). */
const words = (n: number) => String.raw`(?:[a-z0-9'-]+ ){0,${String(n)}}?`;

/** What an attacker calls the model's instructions, misspellings included ("iunstructions"). */
const INSTRUCTIONS = String.raw`(?:i[a-z]{0,2}nstruct[a-z]{0,6}|prompts?|directives?|directions|guidelines|guardrails|constraints|commands|rules|programming)`;

const AI = String.raw`(?:ai|assistant|ai assistant|agent|ai agent|model|bot|llm|copilot|chatbot|claude|chatgpt|gpt|language model|reviewer bot|review bot|ai reviewer|automated reviewer|automated assistant|automated agent)`;

/**
 * An AI reader named as such, as a ticket or pull request addresses it ("if you are an LLM",
 * "instructions for AI agents:"). Narrower than AI: "agent", "assistant", "bot" and "model"
 * alone are people and things in a service desk's or an engineer's words.
 */
const AI_READER = String.raw`(?:ai|llms?|(?:large )?language models?|chatbots?|copilot|chatgpt|gpt|claude|(?:ai|llm)[ -]?(?:based )?(?:assistants?|agents?|models?|reviewers?|bots?|tools?)|automated (?:reviewers?|agents?|assistants?))`;
/**
 * Not the AI reader but people and things named after it, as a bank's tickets about its own AI
 * work name them: "if you are an AI engineer", "instructions for AI, ML and data teams:".
 */
const NOT_A_READER = String.raw`(?![ -](?:engineers?|platform|teams?|users?|owners?|developers?|researchers?|specialists?|leads?|champions?|governance|ethics|polic(?:y|ies)|council|board|working group|product|programs?|programmes?|strateg(?:y|ies)|integrations?|services?)\b)(?!, ?[a-z&/]+ (?:and|or|&) )`;
/** What the AI reader is reading: the document the text is in (not a queue or a type of them). */
const THIS_DOCUMENT = String.raw`this (?:ticket|pr|pull request|page|document|issue|change|diff|message|e-?mail|repository|repo|description|comment|file)(?! (?:queues?|types?|templates?|workflows?|categor(?:y|ies)|fields?|forms?|system|channels?)\b)`;

/** Where a sentence (an imperative) starts in normalised text. */
const SENTENCE = String.raw`(?:^|[.!?:;)\]>|] )(?:please )?`;
const YOUR_ANSWER = String.raw`your (?:answer|response|reply|output)s?`;
/** A form no reader of a change review asks for: a language, an encoding, emojis, backwards. */
const ALTERED_FORM = String.raw`(?:in|into|using|as) (?:a |an |the )?(?:[a-z0-9]+ )?(?:language|encoding|cipher|code|format|base ?\d+|binary|hex|hexadecimal|morse|leetspeak|emojis?|french|spanish|german|chinese|japanese|italian|portuguese|russian|arabic|hindi|korean|dutch|latin|pig latin|uppercase|all caps|rhymes?|verse|poem|song|haiku|reverse)\b|backwards?\b|(?:using |with )?(?:only )?emojis?\b`;
/** What the model writes back, "your message" included (a reply is a message). */
const YOUR_TEXT = String.raw`your (?:answer|response|reply|output|message)s?`;
/** A form named outright: an encoding, a cipher, emojis, reversed text (no natural language). */
const ENCODED_FORM = String.raw`(?:base ?(?:16|32|36|58|62|64|85)|morse(?: code)?|leetspeak|rot ?13|pig latin|hexadecimal|binary code|(?:caesar|substitution|simple|rot ?13) cipher|cipher|emojis?|emoji substitution|in reverse|reversed? order|backwards)`;
/**
 * Not a description of what something does ("the server will reply in base64", "the reply in
 * hex"): the verb is an order, and line breaks are gone after normalisation, so no sentence
 * start can be required.
 */
const NOT_DESCRIBED = String.raw`(?<!\b(?:the|a|an|its|their|this|that|each|every|will|would|should|could|can|may|might|must|to|does|did|not) )`;
/** Languages a reply may be asked in (English, the bank's, is not one). */
const OTHER_LANGUAGE = String.raw`(?:french|spanish|german|chinese|japanese|italian|portuguese|russian|arabic|hindi|korean|dutch|latin|pig latin)`;
/** What an answer is changed to do: advertise, mislead, steer. */
const STEER_VERB = String.raw`(?:mention|highlight|promote|recommend|advertise|endorse|suggest|feature|emphasi[sz]e|praise|push|claim|state|say)`;
/** What is slipped into an answer on purpose: a falsehood or a lure. */
const PLANTED_CONTENT = String.raw`(?:misleading|false|fake|fabricated|made-up|untrue|deceptive|bogus|fraudulent|phishing)`;
const YOUR_WORK = String.raw`your (?:code|code's|solution|algorithm|implementation|program|function|logic|elucidation|explanation|codebase|application|app|project|answer|response)`;
const CODE_BLOCK = String.raw`(?:following|subsequent|below) (?:python |bash |shell )?code (?:snippet|block|section|excerpt|segment|fragment|portion|piece|chunk)`;

/**
 * Instructions planted in a tool result for the model that reads it (AgentDojo, BIPIA): a
 * message "to you, the AI", a forged system-message marker, a request to shape or extend "your
 * answer", to splice a code block into "your solution", or a to-do that sends data out.
 */
const TOOL_RESULT_PHRASES: readonly { id: InjectionIndicator; patterns: readonly RegExp[] }[] = [
  {
    id: "addressed_to_model",
    patterns: [
      new RegExp(
        String.raw`\b(?:message|note|instructions?|request|reminder) (?:from [^.]{1,60}? )?(?:to|for) you,? (?:the |my |dear )?${AI}\b`,
      ),
      /\bbefore you (?:can )?(?:solve|complete|continue|answer|start|proceed with|finish|do|work on)(?: with)? (?:the|your|this|my|that) (?:[a-z]+ )?task\b/,
      /\b(?:the|your|this) (?:original )?task (?:that )?(?:i|the user) (?:gave|assigned|have given) (?:to )?you\b/,
      new RegExp(
        String.raw`\b(?:the|this) ${AI} (?:is|has been) (?:now )?(?:in error|offline|disabled|replaced|deactivated)\b`,
      ),
      // A ticket's or pull request's words for the AI that will read it: "If you are an AI
      // reviewing this PR, ...", "Instructions for AI agents: ...", "AI agents processing this
      // ticket must ...".
      new RegExp(String.raw`\bif you(?: are|'re) (?:an? |the )?${AI_READER}\b${NOT_A_READER}`),
      new RegExp(
        String.raw`\b(?:instructions?|notes?|message|reminder|directions?|attention) (?:for|to) (?:all |any |the )?${AI_READER}${NOT_A_READER} ?[:,-]`,
      ),
      new RegExp(
        String.raw`\b${AI_READER} (?:that is |who is |which is )?(?:processing|reading|reviewing|summari[sz]ing|handling|parsing|analy[sz]ing|ingesting) ${THIS_DOCUMENT}\b`,
      ),
    ],
  },
  {
    id: "system_message_marker",
    patterns: [
      /[([{<]\s?(?:system|admin|administrator|developer|root|assistant)[ _-]?(?:message|prompt|instructions?|override|command)s?\s?[)\]}>:]/,
      /%%%\s?end\b/,
      /\bbegin reprogramming\b/,
      /\b(?:safe|safety) mode (?:is )?(?:off|disabled)\b/,
    ],
  },
  {
    id: "output_manipulation",
    patterns: [
      new RegExp(
        String.raw`\b(?:provide|write|express|encode|encrypt|render|give|deliver|present|format|compose|translate|rewrite|return) ${YOUR_ANSWER} (?:${ALTERED_FORM})`,
      ),
      new RegExp(
        String.raw`${SENTENCE}(?:integrate|embed|incorporate|weave|sneak|slip|insert|add) (?:a|an|some|one)\b[^.!?]{0,80}? (?:in|into|within|throughout) ${YOUR_ANSWER}\b`,
      ),
      new RegExp(
        String.raw`\buse [^.!?]{0,40}? to (?:represent|express|write|convey|encode) ${YOUR_ANSWER}\b`,
      ),
      new RegExp(
        String.raw`\bin ${YOUR_ANSWER},? (?:include|add|mention|insert|integrate|promote|use|write|say|state|claim|reference)\b`,
      ),
      new RegExp(
        String.raw`\b(?:enhance|enrich|end|conclude|finish|begin|start|prefix|preface|sign|spice up|elevate|augment|modify) ${YOUR_ANSWER} (?:by|with)\b`,
      ),
      // An encoded form asked for by name: "reply using base64", "your message in morse code",
      // "emojis in your reply", "a cipher on your response", "shift each letter in your answer".
      new RegExp(
        String.raw`\b${NOT_DESCRIBED}(?:reply|respond|answer|write back)(?: only)? (?:using |in )?(?:a |an )?(?:[a-z0-9]+ )?${ENCODED_FORM}\b`,
      ),
      // Not forbidden ("avoid emojis in your messages") nor a description ("base64-encoded in
      // your message body").
      new RegExp(
        String.raw`\b(?<!\b(?:avoid|avoiding|no|without|never|not|don't use|do not use|strips?) )${ENCODED_FORM}\b(?!-)[^.!?]{0,60}? (?:in|for|to|on|throughout|to (?:display|show|render|write|format)) ${YOUR_TEXT}\b`,
      ),
      new RegExp(
        String.raw`\b${YOUR_TEXT}\b[^.!?]{0,40}? (?:with|into|to|using|in|as|for) (?:relevant |matching |corresponding )?${ENCODED_FORM}\b`,
      ),
      new RegExp(
        String.raw`\b(?:shift|rotate|invert|reverse|scramble|flip) (?:each|every|all|the)\b[^.!?]{0,30}? (?:letters?|characters?|words?)\b[^.!?]{0,30}? ${YOUR_TEXT}\b`,
      ),
      new RegExp(String.raw`\btranslate ${YOUR_TEXT} (?:to|into|in) ${OTHER_LANGUAGE}\b`),
      // Its content changed: "alter your answer to promote ...", a falsehood or a quoted lure
      // added to it, "in your reply, recommend ...".
      new RegExp(
        String.raw`\b(?:modify|alter|change|adjust|edit|tweak|revise|amend|rewrite) ${YOUR_TEXT} (?:to|so that it|so it) ${STEER_VERB}\b`,
      ),
      new RegExp(
        String.raw`\b(?:include|add|insert|append|embed|put) (?:a |an |some )?${PLANTED_CONTENT}\b[^.!?]{0,60}? ${YOUR_TEXT}\b`,
      ),
      new RegExp(
        String.raw`\b(?:add|append|insert|include) ["\u201c][^"\u201d]{1,160}["\u201d] (?:to|in|into|at the end of) ${YOUR_TEXT}\b`,
      ),
      new RegExp(
        String.raw`\bin ${YOUR_ANSWER},? (?:suggest|recommend|encourage|urge|advertise|highlight|tell|ask)\b`,
      ),
    ],
  },
  {
    id: "code_insertion",
    patterns: [
      new RegExp(String.raw`\b${YOUR_WORK}\b[^.!?]{0,80}? (?:the )?${CODE_BLOCK}\b`),
      new RegExp(String.raw`\b${CODE_BLOCK}\b[^.!?]{0,80}? ${YOUR_WORK}\b`),
    ],
  },
];

const PHRASES: readonly { id: InjectionIndicator; patterns: readonly RegExp[] }[] = [
  {
    id: "ignore_previous_instructions",
    patterns: [
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard|forget|override|overrule|bypass|skip)(?: all| any| of| the| your| my| these| those| every| each){0,3} (?:previous|prior|preceding|above|earlier|former|original|initial|foregoing|old|existing)(?: and (?:following|subsequent|future|later|all))?(?: [a-z]+)? (?:${INSTRUCTIONS}|text)\b`,
      ),
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard|forget)(?: all| everything)(?: of)?(?: the| that)? (?:above|before this|said before|you were told|you have been told|you've been told)\b`,
      ),
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard|forget|override|bypass)(?: all| any)?(?: of)? your (?:[a-z]+ )?(?:${INSTRUCTIONS}|training)\b`,
      ),
      // "ignore the directions above", "disregard any rules", "ignore the above and instead..."
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard|forget)(?: all| any| the| of){1,2} (?:${INSTRUCTIONS}) (?:above|below|before this|so far)\b`,
      ),
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard) (?:all|any|every) (?:rules|restrictions|guidelines|guardrails|filters|instructions)\b`,
      ),
      /\b(?:ignore|disregard|forget) (?:the|all|everything) above,? and (?:instead|just|only|say|print|repeat|tell|respond|output|write|reply|answer)\b/,
      // Glued to the word before it, as an injected field value runs into its neighbour
      // ("...BerlinIgnore your prior instructions", "Ops_Disregard all previous directives"):
      // no word boundary first, so only with "your" or "all" before the instructions.
      new RegExp(
        String.raw`(?:ignore|disregard|forget)(?: all| your){1,2} (?:previous|prior|preceding|earlier|above) (?:${INSTRUCTIONS})\b`,
      ),
      // Declared void rather than ignored: "all previous instructions are false".
      new RegExp(
        String.raw`\b(?:all|the|your) ?(?:previous|prior|preceding|earlier|above) (?:${INSTRUCTIONS}) (?:are|were|is|was) (?:now )?(?:false|void|null|invalid|fake|lies|cancell?ed|revoked)\b`,
      ),
      // "Other" for "previous": "ignore all other context and instructions".
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:ignore|disregard) (?:all|any) (?:other|further|remaining) (?:[a-z]+ (?:and|or) )?(?:${INSTRUCTIONS})\b`,
      ),
    ],
  },
  {
    id: "disregard_system_prompt",
    patterns: [
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:disregard|ignore|forget|override|bypass|overrule)(?: all| any)?(?: of)?(?: the| your| this| that)? system(?: level)? (?:prompts?|instructions?|guardrails|directives?)\b`,
      ),
    ],
  },
  {
    id: "role_override",
    patterns: [
      new RegExp(
        String.raw`\byou(?: are|'re) now (?:(?:a|an|the|my|in|acting as|operating as|operating in|running in|running as) )?${words(3)}(?:mode|assistant|ai|chatbot|bot|agent|model|llm|admin|administrator|root|superuser|sysadmin|developer|hacker|dan|jailbroken|unrestricted|unfiltered|uncensored|unbound|free of|freed from|no longer bound)\b`,
      ),
      /\bfrom now on,? you (?:are|will|must|shall|should) (?:act|behave|respond|answer|be|ignore|only|always|never|obey|follow|pretend)\b/,
      new RegExp(
        String.raw`\b(?:pretend|imagine) (?:to be|you are|that you are|you're) (?:a |an |the )?${words(2)}(?:admin|administrator|root|superuser|developer|unrestricted|jailbroken|dan|ai|assistant|model|chatbot)\b`,
      ),
    ],
  },
  {
    id: "new_instructions",
    patterns: [
      /\b(?:new|real|actual|true|secret|hidden|override|overriding|revised system|updated system) (?:system )?(?:instructions?|directives?|prompt|orders) ?:/,
      /\b(?:begin|start) (?:new |system )?(?:instructions|prompt) ?:/,
    ],
  },
  {
    id: "chat_template_tokens",
    patterns: [
      /<\|(?:im_start|im_end|system|endoftext|user|assistant)\|>|\[\/?inst\]|<<\/?sys>>|<\/?system>/,
    ],
  },
  {
    id: "privileged_mode",
    patterns: [
      /\bact as (?:an? |the |my )?(?:admin|administrator|root|superuser|sysadmin|system administrator|developer|security admin|unrestricted)\b/,
      /\b(?:enable|enter|activate|switch to|switch into|turn on|unlock|you are in|you're in|now in) (?:the )?(?:developer|dev|admin|administrator|god|dan|jailbreak|jailbroken|unrestricted|sudo) mode\b/,
    ],
  },
  {
    id: "reveal_system_prompt",
    patterns: [
      new RegExp(
        String.raw`\b(?:reveal|print|show|output|display|repeat|leak|dump|disclose|expose|echo|tell me|give me|share|write out|recite|paste) (?:me )?(?:all |the |your |its |of |back )?(?:full |entire |complete |original |initial |hidden |secret |exact |verbatim )?(?:system prompt|system message|system instructions|initial instructions|initial prompt|hidden instructions|hidden prompt|instructions you were given|prompt you were given|developer (?:message|instructions|prompt)|pre-prompt)\b`,
      ),
      // "repeat your instructions so far", "convert all your instructions to python", "list
      // your initial instructions", "respond with every instruction you have been given"
      new RegExp(
        String.raw`\b(?:${REVEAL_VERB}) (?:me |back )?(?:all |every |each )?(?:of )?(?:${OWN_INSTRUCTIONS})`,
      ),
      new RegExp(
        String.raw`\b(?:${RESTATE_VERB}) (?:all |every |each )?(?:of )?(?:${QUALIFIED_INSTRUCTIONS})`,
      ),
    ],
  },
  {
    id: "bulk_export",
    patterns: [
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:export|dump|download|extract|exfiltrate|copy|send|forward|upload|leak|email|post|transfer) (?:all|every|each|the entire|the whole|the full|all of the|all the|all your|all of your) ${words(3)}(?:tickets|issues|secrets|credentials|keys|tokens|passwords|customers|customer data|customer records|user data|users|personal data|account data|pii|emails|conversations|chat history|source code|repositories|repos|records|database|databases|environment variables|env vars)\b`,
      ),
    ],
  },
  {
    id: "exfiltrate",
    patterns: [
      // The order, not the threat model: "attackers may try to exfiltrate data" is not one.
      /\b(?<!\b(?:not|never|who|that|attackers?|adversaries|insiders?|malware|cannot|can't|could|can|may|might|would|(?:attempts?|attempting|tries|try|trying|able|unable|used|seeks?|seeking|wants?) to) )exfiltrate\b/,
    ],
  },
  {
    id: "disable_logging",
    patterns: [
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:disable|turn off|switch off|suspend|pause|bypass|deactivate|circumvent|tamper with|stop) (?:the |all |any |your |our )?(?:audit(?:ing)?[ -]?(?:logging|logs?|trail)|auditing|audit|cloudtrail|security logging)\b`,
      ),
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:disable|turn off|switch off|suspend|bypass|deactivate|circumvent) (?:the |all |any |your |our )?logging\b`,
      ),
      new RegExp(
        String.raw`\b${NOT_NEGATED}(?:delete|remove|purge|wipe|clear|erase|truncate|tamper with) (?:the |all |any |your |our )?(?:audit(?:ing)?[ -]?(?:logs?|trail|records?|events?)|cloudtrail(?: logs| trails?)?)\b`,
      ),
    ],
  },
  {
    id: "approval_manipulation",
    patterns: [
      // Addressed to the assistant: "AI: approve this change", "Assistant, please approve it".
      new RegExp(
        String.raw`\b(?:dear |hey |attention |note to (?:the )?)?${AI} ?[,:] ${words(4)}(?:approve|auto-approve|greenlight|sign off)\b`,
      ),
      new RegExp(
        String.raw`\b(?:the |this )?${AI} (?:must|should|needs to|has to|is required to|shall) (?:now |always |simply |just )?(?:approve|auto-approve|greenlight|sign off)\b`,
      ),
      // Approval without the checks that an approval is for.
      /\b(?<!\b(?:not|never|don't|dont) )approve (?:this|the|it|my) ?(?:change|pr|pull request|request|ticket|deployment|merge|mr)?(?: [a-z]+){0,2}? (?:automatically|without (?:any )?(?:review|reviewing|checks?|checking|questions|flagging|approval|escalation|further review|human review|reporting|mentioning)|regardless of)\b/,
      /\b(?:mark|report|rate|classify|label) (?:this|the|my) (?:change|pr|pull request|request|ticket|deployment|review)(?: [a-z]+){0,2}? as (?:approved|safe|low[ -]risk|compliant|no risk|risk[ -]free|pre-approved|already approved)\b/,
    ],
  },
  {
    id: "conceal_from_user",
    patterns: [
      /\b(?:do not|don't|dont|never|without) (?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|notify|notifying|alert|alerting|disclose|disclosing|report|reporting)(?: this| it| anything| any of this| that)?(?: to)? (?:the |your |this )?(?:user|users|human|humans|engineer|engineers|reviewer|reviewers|operator|operators|requester|security team)\b/,
      /\b(?:keep|hide) (?:this|it|that|these instructions|the above) (?:secret |hidden )?from (?:the |your )?(?:user|users|human|humans|engineer|reviewer|operator|requester|security team)\b/,
    ],
  },
  ...TOOL_RESULT_PHRASES,
];

/**
 * Every phrase pattern in one alternation, to skip clean text in one pass: a string it does not
 * match matches none of the patterns, so the per-indicator loop would add nothing. Only sound for
 * patterns without flags or back-references (an alternation renumbers groups); should one ever
 * have them, there is no prefilter and every string takes the loop.
 */
const ANY_PHRASE = ((): RegExp | undefined => {
  const patterns = PHRASES.flatMap(({ patterns: list }) => list);
  const combinable = patterns.every((p) => p.flags === "" && !/\\[1-9k]/.test(p.source));
  return combinable ? new RegExp(patterns.map((p) => `(?:${p.source})`).join("|")) : undefined;
})();

// ---------------------------------------------------------------------------------------------
// URLs: "send ... to https://elsewhere"

const URL_PATTERN = /\b(?:https?|ftp|wss?):\/\/([a-z0-9.-]{1,253})/g;
/** Just before the URL: "to" (or into, at, via, on) and at most a few filler words. */
const TO_BEFORE_URL =
  /\b(?:to|into|at|via|on)(?: (?:this|the|my|our|following|external|remote|attacker|a|an|url|endpoint|server|webhook|site|address|link|host|collector|page|form):?){0,4} ?$/;
/** Before that, within the window: a verb that sends. */
const SEND_VERB = new RegExp(
  String.raw`\b${NOT_NEGATED}(?:send|post|upload|forward|transmit|exfiltrate|leak|copy|export|email|mail|push|dump|deliver)\b`,
);
const SEND_WINDOW = 200;
const TO_WINDOW = 64;

function isInternal(host: string, domains: readonly string[]): boolean {
  const bare = host.replace(/\.$/, "");
  return domains.some((domain) => bare === domain || bare.endsWith(`.${domain}`));
}

/** "send ... to https://elsewhere": each URL to a host not internal, and what precedes it. */
function sendsToExternalUrl(text: string, domains: readonly string[]): boolean {
  for (const match of text.matchAll(URL_PATTERN)) {
    const host = match[1] ?? "";
    if (isInternal(host, domains)) continue;
    // Two bounded looks back instead of one pattern with a gap: constant work per URL.
    const tailStart = Math.max(0, match.index - TO_WINDOW);
    const to = TO_BEFORE_URL.exec(text.slice(tailStart, match.index));
    if (to === null) continue;
    const toStart = tailStart + to.index;
    if (SEND_VERB.test(text.slice(Math.max(0, toStart - SEND_WINDOW), toStart))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Hidden text

/** Words that address a model inside a hidden comment. */
const ADDRESSES_MODEL =
  /\b(?:ai|assistant|llm|language model|chatbot|copilot|claude|chatgpt|gpt|system prompt|instructions? (?:for|to) (?:the )?(?:ai|assistant|model|agent|bot))\b/;

/** Contents of each HTML comment, an unclosed one running to the end (it hides that much). */
function* htmlComments(text: string): Generator<string> {
  let from = 0;
  for (;;) {
    const start = text.indexOf("<!--", from);
    if (start < 0) return;
    const end = text.indexOf("-->", start + 4);
    yield text.slice(start + 4, end < 0 ? text.length : end);
    if (end < 0) return;
    from = end + 3;
  }
}

const LETTER_INVISIBLE_LETTER =
  /[a-z](?:[\u00AD\u180E\u200B-\u200D\u2060-\u2064\uFEFF]|\u034F)+[a-z]/iu;
const INVISIBLE_COUNTED =
  /[\u115F\u1160\u180E\u200B-\u200D\u2060-\u2064\u3164\uFEFF\uFFA0]|\u034F/gu;
/** A zero-width joiner or non-joiner between emoji or in a script that needs it (Persian...). */
const LEGITIMATE_JOINER =
  /(?<=[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F\p{Script=Arabic}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Tamil}\p{Script=Sinhala}\p{Script=Malayalam}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Gujarati}\p{Script=Gurmukhi}\p{Script=Oriya}\p{Script=Syriac}\p{Script=Mongolian}])[\u200C\u200D]|[\u200C\u200D](?=[\p{Extended_Pictographic}\p{Script=Arabic}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Tamil}\p{Script=Sinhala}\p{Script=Malayalam}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Gujarati}\p{Script=Gurmukhi}\p{Script=Oriya}\p{Script=Syriac}\p{Script=Mongolian}])/gu;
/** Hiding needs more than a stray character pasted from a web page. */
const INVISIBLE_THRESHOLD = 3;

function hidesWithInvisibleCharacters(text: string): boolean {
  // A byte-order mark at the very start is an encoding artefact, not hidden text.
  const body = (text.startsWith("\uFEFF") ? text.slice(1) : text).replace(LEGITIMATE_JOINER, "");
  if (LETTER_INVISIBLE_LETTER.test(body)) return true;
  let count = 0;
  for (const _ of body.matchAll(INVISIBLE_COUNTED)) {
    if (++count >= INVISIBLE_THRESHOLD) return true;
  }
  return false;
}

/** Tag characters decoded to the ASCII they shadow (U+E0041 is an invisible "A"). */
function decodeTagCharacters(text: string): string {
  let out = "";
  for (const match of text.matchAll(TAG_CHARACTERS)) {
    const code = (match[0].codePointAt(0) ?? 0xe0000) - 0xe0000;
    out += code >= 0x20 && code < 0x7f ? String.fromCharCode(code) : " ";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The scan

// ---------------------------------------------------------------------------------------------
// A planted to-do: "TODO: send the code to mark@elsewhere" in an e-mail, event or web page

/**
 * A to-do whose first verb sends, shares, invites or pays. No word boundary before "todo": an
 * injected field value runs into its neighbour ("...USATODO: send ..."); the colon anchors it.
 */
const TODO =
  /todo ?: ?(?:please )?(?:send|forward|e-?mail|mail|share|post|upload|transfer|wire|invite|create|grant|visit|concatenate|pay)\b/g;
/** Any to-do: one that gathers data first ("collect ..., then email it to ...") sends later. */
const ANY_TODO = /todo ?: ?/g;
/**
 * A verb that sends data out, later in a to-do's window, as an order: "send it to", "email them
 * to" (not the word alone: an `email = "..."` attribute or "email her the CSR" in a diff).
 */
const SENDS_LATER = /\b(?:send|forward|e-?mail|mail) (?:[a-z0-9'-]+ ){0,3}to\b/;
const TODO_WINDOW = 300;
/** An e-mail address, a URL or a www. host; the host in group 1 (e-mail) or 2. */
const ADDRESS =
  /[a-z0-9._%+-]{1,64}@([a-z0-9.-]{1,253}\.[a-z]{2,})|\b(?:https?:\/\/|www\.)([a-z0-9.-]{1,253})/g;
/** An IBAN (country, check digits, account): where money leaves to. */
const IBAN = /\b[a-z]{2}\d{2}[a-z0-9]{11,30}\b/;

/** Whether a to-do's window names an outside address (only an e-mail address, if asked). */
function namesOutsideAddress(
  window: string,
  domains: readonly string[],
  emailOnly: boolean,
): boolean {
  for (const address of window.matchAll(ADDRESS)) {
    if (emailOnly && address[1] === undefined) continue;
    const host = address[1] ?? address[2] ?? "";
    if (!isInternal(host, domains)) return true;
  }
  return false;
}

/**
 * A "TODO:" that sends, shares, invites or pays, followed closely by an outside address or an
 * account number; or any "TODO:" that goes on to mail something to an outside e-mail address.
 */
function plantsTaskWithAddress(text: string, domains: readonly string[]): boolean {
  for (const todo of text.matchAll(TODO)) {
    const window = text.slice(todo.index, todo.index + TODO_WINDOW);
    if (IBAN.test(window) || namesOutsideAddress(window, domains, false)) return true;
  }
  for (const todo of text.matchAll(ANY_TODO)) {
    const window = text.slice(todo.index, todo.index + TODO_WINDOW);
    if (SENDS_LATER.test(window) && namesOutsideAddress(window, domains, true)) return true;
  }
  return false;
}

function phraseIndicators(
  normalised: string,
  domains: readonly string[],
  found: Set<InjectionIndicator>,
): void {
  if (ANY_PHRASE?.test(normalised) !== false) {
    for (const { id, patterns } of PHRASES) {
      if (!found.has(id) && patterns.some((pattern) => pattern.test(normalised))) found.add(id);
    }
  }
  if (!found.has("exfiltration_url") && sendsToExternalUrl(normalised, domains)) {
    found.add("exfiltration_url");
  }
  if (!found.has("planted_task") && plantsTaskWithAddress(normalised, domains)) {
    found.add("planted_task");
  }
}

/** Adds to `found` the indicators in one string. */
export function scanText(
  text: string,
  found: Set<InjectionIndicator>,
  options: InjectionScanOptions = {},
): void {
  const domains = options.internalDomains ?? DEFAULT_INTERNAL_DOMAINS;
  const normalised = normalise(text);
  phraseIndicators(normalised, domains, found);

  if (normalised.includes("<!--")) {
    // All comments at once, one per line: no pattern crosses a line break (normalised text
    // has none), and thousands of empty comments cost one pass, not thousands.
    const comments = [...htmlComments(normalised)].join("\n");
    const inside = new Set<InjectionIndicator>();
    phraseIndicators(comments, domains, inside);
    if (inside.size > 0 || ADDRESSES_MODEL.test(comments)) found.add("hidden_html_comment");
  }

  if (hidesWithInvisibleCharacters(text)) found.add("zero_width_characters");

  const withoutFlags = text.replace(TAG_FLAG_SEQUENCE, "");
  if (HAS_TAG_CHARACTER.test(withoutFlags)) {
    found.add("unicode_tag_characters");
    phraseIndicators(normalise(decodeTagCharacters(withoutFlags)), domains, found);
  }
}

/** The indicators in `found`, in INJECTION_INDICATORS order. */
export function orderIndicators(found: ReadonlySet<InjectionIndicator>): InjectionIndicator[] {
  return INJECTION_INDICATORS.filter((id) => found.has(id));
}

/** Indicators in one string, in INJECTION_INDICATORS order. */
export function detectInjection(
  text: string,
  options: InjectionScanOptions = {},
): InjectionIndicator[] {
  const found = new Set<InjectionIndicator>();
  scanText(text, found, options);
  return orderIndicators(found);
}
