import assert from "node:assert/strict";
import {
  lookupPgpass,
  parsePgpass,
  type PgpassEntry,
  readPgpass,
  resolveBackendPassword,
  type ResolveBackendPasswordOptions,
} from "../../../src/auth/pgpass.ts";

const isWindows = Deno.build.os === "windows";

Deno.test("parsePgpass: reads five fields, with * as a wildcard", () => {
  assert.deepEqual(parsePgpass("db.example:5432:app:alice:s3cret\n*:*:*:*:any"), [
    {
      line: 1,
      host: "db.example",
      port: "5432",
      database: "app",
      user: "alice",
      password: "s3cret",
    },
    {
      line: 2,
      host: undefined,
      port: undefined,
      database: undefined,
      user: undefined,
      password: "any",
    },
  ]);
});

Deno.test("parsePgpass: unescapes \\: and \\\\, and an escaped * is literal", () => {
  const [entry] = parsePgpass("h\\:1:5432:\\*:us\\\\er:pa\\:ss\\\\word");
  assert.equal(entry?.host, "h:1");
  assert.equal(entry?.database, "*");
  assert.equal(entry?.user, "us\\er");
  assert.equal(entry?.password, "pa:ss\\word");
});

Deno.test("parsePgpass: * is a wildcard only as a whole field", () => {
  const [entry] = parsePgpass("*host:*:a*:*:p");
  assert.equal(entry?.host, "*host");
  assert.equal(entry?.port, undefined);
  assert.equal(entry?.database, "a*");
});

Deno.test("parsePgpass: skips comments, blank and malformed lines; keeps line numbers", () => {
  const text = "# comment\n\nonly:four:fields:here\nh:1:d:u:p\r\nno colons at all\nh:2:d:u:";
  const entries = parsePgpass(text);
  assert.deepEqual(entries.map((e) => [e.line, e.port, e.password]), [[4, "1", "p"], [6, "2", ""]]);
});

Deno.test("parsePgpass: ignores text after the password's unescaped colon, as libpq", () => {
  assert.equal(parsePgpass("h:1:d:u:pass:extra")[0]?.password, "pass");
});

const ENTRIES: PgpassEntry[] = parsePgpass([
  "db1:5432:app:alice:first",
  "db1:*:app:alice:second",
  "localhost:5432:*:alice:local",
  "/srv/sock:5432:*:alice:socket",
  "*:*:*:bob:",
  "*:*:*:*:fallback",
].join("\n"));

const target = { host: "db1", port: 5432, database: "app", user: "alice" };

Deno.test("lookupPgpass: the first matching line wins", () => {
  assert.equal(lookupPgpass(ENTRIES, target), "first");
  assert.equal(lookupPgpass(ENTRIES, { ...target, port: "6432" }), "second");
  assert.equal(lookupPgpass(ENTRIES, { ...target, database: "other" }), "fallback");
});

Deno.test("lookupPgpass: an empty host or a default socket directory matches localhost", () => {
  assert.equal(lookupPgpass(ENTRIES, { ...target, host: "" }), "local");
  assert.equal(lookupPgpass(ENTRIES, { ...target, host: "/var/run/postgresql" }), "local");
  assert.equal(lookupPgpass(ENTRIES, { ...target, host: "/tmp" }), "local");
  assert.equal(lookupPgpass(ENTRIES, { ...target, host: "/srv/sock" }), "socket");
});

Deno.test("lookupPgpass: defaults the port to 5432 and the database to the user", () => {
  const entries = parsePgpass("h:5432:alice:alice:yes\n");
  assert.equal(lookupPgpass(entries, { host: "h", port: "", database: "", user: "alice" }), "yes");
});

Deno.test("lookupPgpass: returns an empty password as found, and undefined with no match", () => {
  assert.equal(lookupPgpass(ENTRIES, { ...target, user: "bob" }), "");
  assert.equal(lookupPgpass([], target), undefined);
});

async function withPassfile(
  text: string,
  mode: number,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/pgpass`;
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, mode);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "readPgpass: uses a file with mode 0600",
  ignore: isWindows,
  fn: () =>
    withPassfile("h:1:d:u:p\n", 0o600, async (path) => {
      const file = await readPgpass(path);
      assert.equal(file.warning, undefined);
      assert.equal(file.entries.length, 1);
    }),
});

Deno.test({
  name: "readPgpass: ignores a group- or world-accessible file with a warning",
  ignore: isWindows,
  fn: async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o610]) {
      await withPassfile("h:1:d:u:p\n", mode, async (path) => {
        const file = await readPgpass(path);
        assert.deepEqual(file.entries, []);
        assert.match(file.warning ?? "", /has group or world access/);
      });
    }
  },
});

Deno.test("readPgpass: treats a missing file as empty, without a warning", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readPgpass(`${dir}/absent`), { entries: [] });
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("readPgpass: ignores a directory with a warning", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await readPgpass(dir);
    assert.deepEqual(file.entries, []);
    assert.match(file.warning ?? "", /not a plain file/);
  } finally {
    await Deno.remove(dir);
  }
});

function options(
  over: Partial<ResolveBackendPasswordOptions>,
): ResolveBackendPasswordOptions {
  return {
    configured: "",
    env: {},
    passfile: "",
    home: "",
    host: "h",
    port: 1,
    database: "d",
    user: "u",
    ...over,
  };
}

Deno.test("resolveBackendPassword: prefers configured, then PGPASSWORD, then the file", async () => {
  await withPassfile("h:1:d:u:from-file\n", 0o600, async (passfile) => {
    const env = { PGPASSWORD: "from-env" };
    assert.equal(
      await resolveBackendPassword(options({ configured: "conf", env, passfile })),
      "conf",
    );
    assert.equal(await resolveBackendPassword(options({ env, passfile })), "from-env");
    assert.equal(
      await resolveBackendPassword(options({ env: { PGPASSWORD: "" }, passfile })),
      "from-file",
    );
    assert.equal(await resolveBackendPassword(options({ passfile, user: "x" })), undefined);
  });
});

Deno.test("resolveBackendPassword: finds the file via PGPASSFILE, then <home>/.pgpass", async () => {
  await withPassfile("h:1:d:u:via-env\n", 0o600, async (path) => {
    assert.equal(await resolveBackendPassword(options({ env: { PGPASSFILE: path } })), "via-env");
  });
  const home = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${home}/.pgpass`, "h:1:d:u:via-home\n", { mode: 0o600 });
    await Deno.chmod(`${home}/.pgpass`, 0o600);
    assert.equal(await resolveBackendPassword(options({ home: `${home}/` })), "via-home");
    const explicit = options({ home, passfile: `${home}/absent` });
    assert.equal(await resolveBackendPassword(explicit), undefined);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
  assert.equal(await resolveBackendPassword(options({})), undefined);
});

Deno.test({
  name: "resolveBackendPassword: reports an ignored file and treats an empty password as none",
  ignore: isWindows,
  fn: async () => {
    const warnings: string[] = [];
    await withPassfile("h:1:d:u:p\n", 0o644, async (passfile) => {
      const onWarning = (m: string) => warnings.push(m);
      assert.equal(await resolveBackendPassword(options({ passfile, onWarning })), undefined);
    });
    assert.equal(warnings.length, 1);
    await withPassfile("h:1:d:u:\n*:*:*:*:later\n", 0o600, async (passfile) => {
      assert.equal(await resolveBackendPassword(options({ passfile })), undefined);
    });
  },
});
