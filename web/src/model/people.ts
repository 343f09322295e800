// Who someone is, as a person reads it: "you" for the viewer's own subject, else the display name the
// dashboards service stored (a name, an email, "API key <name>"), else the subject itself.

export function person(subject: string, name: string | null | undefined, me: string | null): string {
  if (me !== null && subject === me) return "you";
  return name?.trim() || subject;
}
