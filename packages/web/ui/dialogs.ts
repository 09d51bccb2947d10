/**
 * Modal dialogs (the native `<dialog>`: focus moves in, Escape closes, focus returns):
 * create a direct chat or a group, and a group's members (add by handle, remove).
 */
import type { User } from "@natter/client";
import type { ChatKind } from "@natter/protocol";
import type { ChatApp } from "./app.ts";
import { errorText, h, setChildren } from "./dom.ts";

function modal(titleText: string, body: HTMLElement[], labelId: string): HTMLDialogElement {
  const opener = document.activeElement as HTMLElement | null;
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": labelId },
    h("h2", { id: labelId }, titleText),
    ...body,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** `ana, @ben  cy` → ["ana", "ben", "cy"]. */
function handles(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,;]+/)
        .map((s) => s.replace(/^@/, "").trim())
        .filter(Boolean),
    ),
  ];
}

async function lookup(app: ChatApp, handle: string): Promise<User> {
  try {
    const u = await app.client.http.userByHandle(handle);
    app.dir.learn(u);
    return u;
  } catch (err) {
    if ((err as { code?: string }).code === "not_found")
      throw new Error(`No user with the handle “${handle}”.`, { cause: err });
    throw err;
  }
}

export function newChatDialog(app: ChatApp, created: (chatId: string) => void): void {
  const error = h("p", { class: "error", role: "alert" });
  const handle = h("input", {
    id: "nc-handle",
    name: "handle",
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
  });
  const title = h("input", { id: "nc-title", name: "title", maxlength: 200 });
  const members = h("input", {
    id: "nc-members",
    name: "members",
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
  });
  const direct = h("div", { class: "field" }, h("label", { for: "nc-handle" }, "Their handle"), handle);
  const group = h(
    "div",
    { class: "fields", hidden: true },
    h("div", { class: "field" }, h("label", { for: "nc-title" }, "Group name"), title),
    h(
      "div",
      { class: "field" },
      h("label", { for: "nc-members" }, "Members’ handles"),
      members,
      h("small", {}, "Separate handles with commas or spaces."),
    ),
  );
  let kind: ChatKind = "direct";
  const radio = (value: ChatKind, text: string) =>
    h(
      "label",
      { class: "choice" },
      h("input", {
        type: "radio",
        name: "kind",
        value,
        checked: value === "direct",
        onchange: () => {
          kind = value;
          direct.hidden = value !== "direct";
          group.hidden = value !== "group";
          (value === "direct" ? handle : title).focus();
        },
      }),
      ` ${text}`,
    );
  const submit = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h(
    "form",
    {},
    h(
      "fieldset",
      { class: "kinds" },
      h("legend", {}, "Kind of chat"),
      radio("direct", "Direct"),
      radio("group", "Group"),
    ),
    direct,
    group,
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "ghost", onclick: () => dialog.close() }, "Cancel"),
      submit,
    ),
  );
  const dialog = modal("New chat", [form], "nc-heading");
  handle.focus();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    void (async () => {
      try {
        let chatId: string;
        if (kind === "direct") {
          const h1 = handles(handle.value)[0];
          if (!h1) throw new Error("Enter a handle.");
          const u = await lookup(app, h1);
          if (u.userId === app.me) throw new Error("That is you: pick someone else.");
          chatId = (await app.client.http.createDirect(u.userId)).chatId;
        } else {
          const name = title.value.trim();
          if (!name) throw new Error("Give the group a name.");
          const users = await Promise.all(handles(members.value).map((x) => lookup(app, x)));
          chatId = (
            await app.client.http.createGroup(
              name,
              users.map((u) => u.userId).filter((id) => id !== app.me),
            )
          ).chatId;
        }
        dialog.close();
        created(chatId);
      } catch (err) {
        error.textContent = errorText(err);
        submit.disabled = false;
      }
    })();
  });
}

export function membersDialog(app: ChatApp, chatId: string, kind: ChatKind, changed: () => void): void {
  const list = h("ul", { class: "members", id: "members-list" });
  const error = h("p", { class: "error", role: "alert" });
  const handle = h("input", { id: "add-member", autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
  const add = h("button", { type: "submit", class: "primary" }, "Add");
  const addForm = h(
    "form",
    { class: "add-member" },
    h("label", { for: "add-member" }, "Add by handle"),
    h("div", { class: "inline" }, handle, add),
  );
  const dialog = modal(
    "Members",
    [
      list,
      kind === "group" ? addForm : h("p", {}, "A direct chat always has its two members."),
      error,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "ghost", onclick: () => dialog.close() }, "Close"),
      ),
    ],
    "members-heading",
  );

  let amAdmin = false;
  async function refresh(): Promise<void> {
    const v = await app.client.http.chat(chatId);
    amAdmin = v.members.some((m) => m.userId === app.me && m.role === "admin");
    setChildren(
      list,
      v.members.map((m) => {
        const you = m.userId === app.me;
        const name = you ? `${app.dir.name(m.userId)} (you)` : app.dir.name(m.userId);
        const handleText = app.dir.get(m.userId)?.handle;
        const canRemove = kind === "group" && (you || amAdmin);
        return h(
          "li",
          { "data-user": m.userId },
          h(
            "span",
            { class: "member-name" },
            name,
            handleText ? h("small", {}, ` @${handleText}`) : null,
            m.role === "admin" ? h("small", { class: "role" }, " admin") : null,
          ),
          canRemove
            ? h(
                "button",
                {
                  type: "button",
                  class: "ghost danger",
                  "aria-label": you ? "Leave the group" : `Remove ${name}`,
                  onclick: () => void remove(m.userId, you),
                },
                you ? "Leave" : "Remove",
              )
            : null,
        );
      }),
    );
    handle.disabled = add.disabled = !amAdmin;
    if (!amAdmin) handle.placeholder = "Only admins add members";
  }

  async function remove(userId: string, you: boolean): Promise<void> {
    error.textContent = "";
    try {
      await app.client.http.removeMember(chatId, userId);
      changed();
      if (you) {
        dialog.close();
        return;
      }
      await refresh();
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  addForm.addEventListener("submit", (e) => {
    e.preventDefault();
    error.textContent = "";
    void (async () => {
      try {
        for (const x of handles(handle.value)) {
          const u = await lookup(app, x);
          await app.client.http.addMember(chatId, u.userId);
        }
        handle.value = "";
        changed();
        await refresh();
        handle.focus();
      } catch (err) {
        error.textContent = errorText(err);
      }
    })();
  });
  refresh().then(
    () =>
      (amAdmin
        ? handle
        : ((list.querySelector("button") ?? dialog.querySelector(".actions button")) as HTMLElement)
      )?.focus(),
    (err: unknown) => (error.textContent = errorText(err)),
  );
}
