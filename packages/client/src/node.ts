/**
 * `@natter/client/node`: what only Node can do. The main entry stays browser-safe (no
 * `node:*` import); a Node app imports this too.
 */
export { FileCursorStore, type FileCursorStoreOptions } from "./file-cursor-store.ts";
