import { readFile } from "node:fs/promises";
import path from "node:path";
import { repoRoot } from "./binaries.ts";

/**
 * A Markdown table as rows of trimmed cells, separator lines dropped: Prettier pads the
 * tables it formats, which changes nothing they say, so generated tables are compared
 * cell by cell.
 */
export function tableCells(table: string): string[][] {
  return table
    .trim()
    .split("\n")
    .filter((line) => !/^\|[\s|:-]+\|$/.test(line))
    .map((line) => line.split(/(?<!\\)\|/).map((c) => c.trim()));
}

/**
 * The cells of the table a doc of the repository holds between `<!-- name:start -->` and
 * `<!-- name:end -->` (a table generated from code, kept in step by a test); undefined
 * when the markers are missing.
 */
export async function docTable(file: string, name: string): Promise<string[][] | undefined> {
  const doc = await readFile(path.join(repoRoot, file), "utf8");
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(doc);
  return m ? tableCells(m[1]!) : undefined;
}
