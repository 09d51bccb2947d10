import assert from "node:assert/strict";
import { test } from "node:test";
import { LruMap, setNewest } from "./bounded-map.ts";

test("setNewest - a full map drops its oldest entry; a re-set key becomes the newest", () => {
  const map = new Map<string, number>();
  setNewest(map, "a", 1, 3);
  setNewest(map, "b", 2, 3);
  setNewest(map, "c", 3, 3);
  setNewest(map, "a", 10, 3);
  assert.deepEqual(
    [...map],
    [
      ["b", 2],
      ["c", 3],
      ["a", 10],
    ],
  );
  setNewest(map, "d", 4, 3);
  assert.deepEqual([...map.keys()], ["c", "a", "d"]);
});

test("LruMap - a read keeps an entry; the least recently used goes first", () => {
  const lru = new LruMap<string, number>(2);
  lru.set("a", 1);
  lru.set("b", 2);
  assert.equal(lru.get("a"), 1);
  lru.set("c", 3);
  assert.equal(lru.get("b"), undefined);
  assert.equal(lru.get("a"), 1);
  assert.equal(lru.get("c"), 3);
  assert.equal(lru.size, 2);
  lru.delete("a");
  assert.equal(lru.size, 1);
});
