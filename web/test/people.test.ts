import { describe, expect, it } from "vitest";
import { person } from "../src/model/people";

describe("person", () => {
  it("says you for the viewer's own subject, whatever name was stored", () => {
    expect(person("alice", "Alice Martin", "alice")).toBe("you");
  });
  it("shows the stored name of someone else", () => {
    expect(person("apikey:0f3a9c", "API key exporter", "alice")).toBe("API key exporter");
    expect(person("u-81", "bob@example.com", "alice")).toBe("bob@example.com");
  });
  it("falls back to the subject when no name is known or nobody is signed in", () => {
    expect(person("u-81", "", "alice")).toBe("u-81");
    expect(person("u-81", null, null)).toBe("u-81");
  });
});
