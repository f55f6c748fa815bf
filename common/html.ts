// HTML escaping for the server-rendered pages (the approver console, the IdP's sign-in page):
// text placed in element content or in a quoted attribute value. Invariant: the five characters
// that can end a text node or an attribute value (& < > " ') never pass through unescaped.
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}
