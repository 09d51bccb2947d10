export { LruMap, setNewest } from "./bounded-map.ts";
