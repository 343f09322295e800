// A small hyperscript helper: the app is plain DOM, no framework (a form generated from data and a few charts
// do not need one, and the first paint stays small).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "value" && "value" in element) {
      (element as HTMLInputElement).value = String(value);
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      (element as unknown as Record<string, boolean>)[key] = Boolean(value);
      if (key === "disabled") element.setAttribute("disabled", "");
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function clear(element: Element, ...children: (Child | Child[])[]): void {
  element.replaceChildren();
  append(element, children);
}

let ids = 0;
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled select; options as [value, label]. */
export function select(
  label: string,
  options: readonly (readonly [string, string])[],
  value: string,
  onChange: (value: string) => void,
  attrs: Attrs = {},
): HTMLElement {
  const id = uid("f");
  const control = h(
    "select",
    { id, ...attrs, onchange: (e: Event) => onChange((e.target as HTMLSelectElement).value) },
    options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)),
  );
  return h("label", { class: "field", for: id }, h("span", {}, label), control);
}

/** A message box for loading, empty and error states. */
export function notice(kind: "loading" | "empty" | "error" | "info", title: string, detail?: string): HTMLElement {
  return h(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("strong", {}, title),
    detail ? h("p", {}, detail) : null,
  );
}
