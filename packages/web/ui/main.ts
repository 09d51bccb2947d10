/**
 * Natter's web client: boots into the login page or, with a saved session, the app.
 * The gateway that serves this page is the server (`location.origin`).
 */
import { LocalStorageCursorStore, NatterClient, type Session } from "@natter/client";
import { ChatApp } from "./app.ts";
import { byId } from "./dom.ts";
import { showLogin } from "./login.ts";
import { clearSession, cursorKey, loadSession, type SavedSession, saveSession, usersKey } from "./session.ts";

const root = byId("root");
const banner = byId("banner");
let current: ChatApp | undefined;

function start(s: SavedSession): void {
  const client = new NatterClient({
    servers: location.origin,
    token: s.token,
    cursors: new LocalStorageCursorStore(cursorKey(s.userId)),
    // Chats made while the tab was closed are followed from their head: the list shows
    // their unread count and the pager their history, nothing is replayed as live.
    discoverChats: "from-head",
    // Names learned are kept, so a reload renders every name at once.
    users: { storage: localStorage, key: usersKey(s.userId) },
    // A browser tab: come back within 10 s at most once the network is back.
    backoff: { baseMs: 500, capMs: 10_000 },
  });
  current = new ChatApp({
    root,
    banner,
    client,
    me: s.userId,
    onLogout: (message) => {
      current?.stop();
      current = undefined;
      clearSession(s.userId);
      banner.hidden = true;
      login(message);
    },
  });
  current.start();
}

function login(notice?: string): void {
  showLogin(
    root,
    (session: Session) => {
      const saved = {
        token: session.token,
        userId: session.userId,
        deviceId: session.deviceId,
        expiresAt: session.expiresAt,
      };
      saveSession(saved);
      start(saved);
    },
    notice,
  );
}

const saved = loadSession();
if (saved) start(saved);
else login();
