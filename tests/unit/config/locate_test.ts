/**
 * @module
 * `loadConfig`'s lookup order (--config, $USOGRESRC, the search paths), with temporary files and
 * injected environment, home directory and search paths.
 */

import assert from "node:assert/strict";
import { ConfigError, defaultSearchPaths, loadConfig } from "../../../src/config/mod.ts";

/** A temporary directory with one config file per name, each naming a different original port. */
async function withFiles(
  names: readonly string[],
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "usogres_config_" });
  try {
    for (const [i, name] of names.entries()) {
      await Deno.writeTextFile(`${dir}/${name}`, `hostorg = "db"\nportorg = ${6001 + i}\n`);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The search list of a test, inside `dir`. */
function searchIn(dir: string): string[] {
  return [`${dir}/etc_usogresrc`, `${dir}/etc_usogresrc.toml`, `${dir}/.usogresrc`];
}

Deno.test("loadConfig: reads the --config file before everything else", async () => {
  await withFiles(["given", "env", "etc_usogresrc"], async (dir) => {
    const loaded = await loadConfig({
      configPath: `${dir}/given`,
      env: { USOGRESRC: `${dir}/env` },
      searchPaths: searchIn(dir),
    });
    assert.equal(loaded.file, `${dir}/given`);
    assert.equal(loaded.config.original.port, 6001);
  });
});

Deno.test("loadConfig: reads $USOGRESRC when there is no --config", async () => {
  await withFiles(["env", "etc_usogresrc"], async (dir) => {
    const loaded = await loadConfig({
      env: { USOGRESRC: `${dir}/env` },
      searchPaths: searchIn(dir),
    });
    assert.equal(loaded.file, `${dir}/env`);
  });
});

Deno.test("loadConfig: takes the first search path that exists", async () => {
  await withFiles(["etc_usogresrc.toml", ".usogresrc"], async (dir) => {
    const loaded = await loadConfig({ env: {}, searchPaths: searchIn(dir) });
    assert.equal(loaded.file, `${dir}/etc_usogresrc.toml`);
    assert.equal(loaded.config.original.port, 6001);
  });
  await withFiles([".usogresrc"], async (dir) => {
    const loaded = await loadConfig({ env: {}, searchPaths: searchIn(dir) });
    assert.equal(loaded.file, `${dir}/.usogresrc`);
  });
});

Deno.test("loadConfig: searches /usr/local/etc, then the home directory, by default", () => {
  assert.deepEqual(defaultSearchPaths("/home/u/"), [
    "/usr/local/etc/usogresrc",
    "/usr/local/etc/usogresrc.toml",
    "/home/u/.usogresrc",
    "/home/u/.usogresrc.toml",
  ]);
  assert.deepEqual(defaultSearchPaths(undefined).length, 2);
});

Deno.test("loadConfig: finds ~/.usogresrc in the injected home directory", async () => {
  await withFiles([".usogresrc.toml"], async (dir) => {
    const loaded = await loadConfig({
      env: {},
      home: dir,
      searchPaths: defaultSearchPaths(dir).slice(2),
    });
    assert.equal(loaded.file, `${dir}/.usogresrc.toml`);
  });
});

Deno.test("loadConfig: expands ~ in $USOGRESRC", async () => {
  await withFiles(["rc"], async (dir) => {
    const loaded = await loadConfig({ env: { USOGRESRC: "~/rc" }, home: dir, searchPaths: [] });
    assert.equal(loaded.file, `${dir}/rc`);
  });
});

Deno.test("loadConfig: fails when the --config file does not exist", async () => {
  await withFiles(["etc_usogresrc"], async (dir) => {
    await assert.rejects(
      loadConfig({ configPath: `${dir}/missing`, env: {}, searchPaths: searchIn(dir) }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === `configuration file "${dir}/missing" does not exist` &&
        e.hint === "The file was named by --config." && e.file === `${dir}/missing`,
    );
  });
});

Deno.test("loadConfig: fails when the $USOGRESRC file does not exist", async () => {
  await withFiles(["etc_usogresrc"], async (dir) => {
    await assert.rejects(
      loadConfig({ env: { USOGRESRC: `${dir}/missing` }, searchPaths: searchIn(dir) }),
      (e: unknown) => e instanceof ConfigError && e.hint === "The file was named by USOGRESRC.",
    );
  });
});

Deno.test("loadConfig: fails when the --config path is a directory", async () => {
  await withFiles([], async (dir) => {
    await assert.rejects(
      loadConfig({ configPath: dir, env: {}, searchPaths: [] }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith("could not read"),
    );
  });
});

Deno.test("loadConfig: names the files searched when no file and no original exist", async () => {
  await withFiles([], async (dir) => {
    await assert.rejects(
      loadConfig({ env: {}, searchPaths: searchIn(dir) }),
      (e: unknown) =>
        e instanceof ConfigError && e.errors.length === 1 &&
        e.message === "no original server configured: no configuration file found (searched " +
            searchIn(dir).join(", ") + ")" &&
        e.key === "original.host",
    );
  });
});

Deno.test("loadConfig: runs on defaults and flags when no file exists", async () => {
  const loaded = await loadConfig({
    env: {},
    home: "/home/u",
    searchPaths: [],
    overrides: { hostorg: "db", "listen.port": "6432" },
  });
  assert.equal(loaded.file, undefined);
  assert.equal(loaded.config.original.host, "db");
  assert.equal(loaded.config.listen.port, 6432);
  assert.deepEqual(loaded.config.copies, []);
  assert.equal(loaded.config.log.dir, "/home/u/.usogres-log");
  assert.deepEqual(loaded.sources.get("original.host"), { kind: "flag", flag: "--hostorg" });
  assert.deepEqual(loaded.sources.get("listen.port"), { kind: "flag", flag: "--listen.port" });
});

Deno.test("loadConfig: lets flags win over the file and attributes them to the flag", async () => {
  await withFiles(["rc"], async (dir) => {
    const loaded = await loadConfig({
      configPath: `${dir}/rc`,
      env: {},
      overrides: { portorg: { value: "7000", flag: "--portorg" }, "log.level": "debug" },
    });
    assert.equal(loaded.config.original.port, 7000);
    assert.deepEqual(loaded.sources.get("original.port"), { kind: "flag", flag: "--portorg" });
    assert.deepEqual(loaded.sources.get("log.level"), { kind: "flag", flag: "--log-level" });
    assert.deepEqual(loaded.sources.get("original.host"), {
      kind: "file",
      file: `${dir}/rc`,
      line: 1,
      key: "hostorg",
    });
  });
});
