/**
 * @module
 * Unit tests of the statement classifier (`src/replication/classify.ts`): a table with every
 * routing rule of DESIGN.md "Replication semantics" (reads, writes, session, transaction and
 * original-only statements, and how several statements combine), empty texts and parse errors.
 * The sibling `classify_*_test.ts` files cover the statement fields, function lists and cache.
 */

import assert from "node:assert/strict";
import {
  type Classification,
  Classifier,
  initClassifier,
  type StatementClass,
} from "../../../src/replication/classify.ts";

await initClassifier();

/** One routing case: the text, its combined class, and the reason of its first statement. */
type Case = readonly [sql: string, expected: StatementClass, reason?: string];

const CASES: readonly Case[] = [
  // Reads.
  ["SELECT 1", "read"],
  ["select * from t where a = 1 order by b limit 10", "read"],
  ["VALUES (1), (2)", "read"],
  ["TABLE t", "read"],
  ["SHOW search_path", "read"],
  ["SHOW ALL", "read"],
  ["select count(*), sum(a), avg(b) from t group by c having max(d) > 1", "read"],
  [
    "select row_number() over (partition by a order by b), rank() over w from t window w as ()",
    "read",
  ],
  ["select lower(name), upper(name), length(name), coalesce(a, b), now() from t", "read"],
  ["select extract(year from now()), x at time zone 'UTC', trim(both 'x' from y) from t", "read"],
  ["select current_date, current_timestamp, current_user, session_user", "read"],
  ["select random(), clock_timestamp(), timeofday(), gen_random_uuid()", "read"],
  ["select pg_sleep(0.1)", "read"],
  ["select pg_catalog.lower('A')", "read"],
  ["select * from generate_series(1, 10) g", "read"],
  ["select * from t, lateral (select * from u where u.id = t.id) s", "read"],
  ["with x as (select 1) select * from x", "read"],
  ["select exists (select 1 from t where a in (select b from u))", "read"],
  ["select a from t union all select b from u", "read"],
  ["select $1::int, $2::text", "read"],
  ["select pg_relation_size('t'), pg_database_size(current_database())", "read"],
  ["select txid_current_if_assigned(), pg_backend_pid(), current_setting('work_mem')", "read"],
  ["COPY t TO STDOUT", "read"],
  ["copy (select * from t) to stdout with (format csv)", "read"],
  ["EXPLAIN SELECT * FROM t", "read"],
  ["explain delete from t", "read"],
  ["explain (analyze false) delete from t", "read"],
  ["explain (analyze off, verbose) insert into t values (1)", "read"],
  ["explain analyze select * from t", "read"],
  ["explain (analyze, buffers) select count(*) from t", "read"],
  ["-- only a comment", "read"],
  ["/* block */", "read"],
  ["", "read"],
  [" \n\t ", "read"],
  [";", "read"],

  // SELECTs that are more than reads.
  ["select nextval('s')", "write", 'calls function "nextval"'],
  ["select pg_catalog.nextval('s')", "write", 'calls function "pg_catalog.nextval"'],
  ["select setval('s', 10)", "write", 'calls function "setval"'],
  ["select currval('s')", "write", 'calls function "currval"'],
  ["select lastval()", "write", 'calls function "lastval"'],
  ["select pg_advisory_lock(1)", "write", 'calls function "pg_advisory_lock"'],
  ["select pg_try_advisory_xact_lock(1)", "write", 'calls function "pg_try_advisory_xact_lock"'],
  ["select pg_advisory_unlock_all()", "write", 'calls function "pg_advisory_unlock_all"'],
  ["select set_config('a.b', 'c', false)", "write", 'calls function "set_config"'],
  ["select setseed(0.5)", "write", 'calls function "setseed"'],
  ["select pg_notify('ch', 'x')", "write", 'calls function "pg_notify"'],
  ["select txid_current()", "write", 'calls function "txid_current"'],
  ["select pg_current_xact_id()", "write", 'calls function "pg_current_xact_id"'],
  ["select lo_create(0)", "write", 'calls function "lo_create"'],
  ["select lo_unlink(1234)", "write", 'calls function "lo_unlink"'],
  ["select pg_terminate_backend(1)", "write", 'calls function "pg_terminate_backend"'],
  ["select pg_cancel_backend(1)", "write", 'calls function "pg_cancel_backend"'],
  ["select pg_reload_conf()", "write", 'calls function "pg_reload_conf"'],
  ["select pg_switch_wal()", "write", 'calls function "pg_switch_wal"'],
  ["select pg_create_restore_point('r')", "write", 'calls function "pg_create_restore_point"'],
  ["select dblink_exec('insert into t values (1)')", "write", 'calls function "dblink_exec"'],
  ["select myfunc()", "write", 'calls function "myfunc"'],
  ["select * from myfunc()", "write", 'calls function "myfunc"'],
  ["select public.lower('a')", "write", 'calls function "public.lower"'],
  ["select a from t where b = (select nextval('s'))", "write", 'calls function "nextval"'],
  ["select a from t order by myfunc(a)", "write", 'calls function "myfunc"'],
  ["select a from t group by a having count(*) > myfunc()", "write", 'calls function "myfunc"'],
  ["select * from t, lateral myfunc(t.a) f", "write", 'calls function "myfunc"'],
  ["select lower(upper(myfunc(a))) from t", "write", 'calls function "myfunc"'],
  ["select f1(), f2()", "write", 'calls function "f1"'],
  ["select count(*) filter (where myfunc(a)) from t", "write", 'calls function "myfunc"'],
  ["with x as (select nextval('s')) select * from x", "write", 'calls function "nextval"'],
  ["values (nextval('s'))", "write", 'calls function "nextval"'],
  ["select * from t for update", "write", "FOR UPDATE"],
  ["select * from t for no key update", "write", "FOR NO KEY UPDATE"],
  ["select * from t for share skip locked", "write", "FOR SHARE"],
  ["select * from t for key share nowait", "write", "FOR KEY SHARE"],
  ["select * from (select * from t for update) s", "write", "FOR UPDATE"],
  ["select * into newt from t", "write", "SELECT INTO"],
  [
    "with x as (insert into t values (1) returning *) select * from x",
    "write",
    "data-modifying WITH",
  ],
  ["with x as (update t set a = 1 returning *) select 1", "write", "data-modifying WITH"],
  ["with x as (delete from t returning *) select count(*) from x", "write", "data-modifying WITH"],
  ["select pg_cursor()", "originalOnly", 'calls function "pg_cursor"'],
  [
    "select cursor_to_xml('c', 10, false, false, '')",
    "originalOnly",
    'calls function "cursor_to_xml"',
  ],
  [
    "select * from pg_listening_channels()",
    "originalOnly",
    'calls function "pg_listening_channels"',
  ],
  ["explain analyze select nextval('s')", "write", 'calls function "nextval"'],
  ["explain (analyze true) delete from t", "write"],
  ["explain (analyze 1) update t set a = 1", "write"],
  ["copy (select nextval('s')) to stdout", "write", 'calls function "nextval"'],
  ["copy (insert into t values (1) returning *) to stdout", "write"],

  // Writes by statement type.
  ["insert into t values (1)", "write"],
  ["insert into t select * from u", "write"],
  ["update t set a = 1 where b = 2", "write"],
  ["delete from t", "write"],
  ["update t set a = 1 where current of c", "write", "WHERE CURRENT OF"],
  ["delete from t where current of c", "write", "WHERE CURRENT OF"],
  ["merge into t using u on t.id = u.id when matched then update set a = u.a", "write"],
  ["copy t from stdin", "write"],
  ["copy t (a, b) from stdin with (format csv)", "write"],
  ["create table t (id serial primary key)", "write"],
  ["create table t2 as select * from t", "write"],
  ["create index on t (a)", "write"],
  ["create view v as select 1", "write"],
  ["create materialized view mv as select 1", "write"],
  ["create sequence s", "write"],
  ["create extension pgcrypto", "write"],
  ["create function f() returns int language sql as 'select 1'", "write"],
  ["create trigger tr after insert on t for each row execute function f()", "write"],
  ["create rule r as on insert to t do nothing", "write"],
  ["create publication p for all tables", "write"],
  ["create schema s", "write"],
  ["create role r", "write"],
  ["create database d", "write"],
  ["drop database d", "write"],
  ["alter table t add column b int", "write"],
  ["alter table t rename to u", "write"],
  ["alter system set work_mem = '1MB'", "write"],
  ["drop table t", "write"],
  ["truncate t", "write"],
  ["grant select on t to public", "write"],
  ["revoke all on t from public", "write"],
  ["comment on table t is 'x'", "write"],
  ["security label on table t is 'x'", "write"],
  ["call p()", "write"],
  ["do $$ begin perform 1; end $$", "write"],
  ["lock table t in exclusive mode", "write"],
  ["vacuum t", "write"],
  ["analyze t", "write"],
  ["cluster t using t_pkey", "write"],
  ["reindex table t", "write"],
  ["checkpoint", "write"],
  ["refresh materialized view mv", "write"],
  ["notify ch, 'payload'", "write"],
  ["load 'plpgsql'", "write"],
  ["reassign owned by a to b", "write"],

  // Session state.
  ["set search_path = s, public", "session"],
  ["SET LOCAL statement_timeout = 0", "session"],
  ["reset all", "session"],
  ["reset work_mem", "session"],
  ["set role r", "session"],
  ["set session authorization u", "session"],
  ["set transaction isolation level serializable", "session"],
  ["set session characteristics as transaction read only", "session"],
  ["set constraints all deferred", "session"],
  ["discard all", "session"],
  ["discard temp", "session"],
  ["prepare p as select 1", "session"],
  ["deallocate p", "session"],
  ["deallocate all", "session"],

  // Transactions.
  ["begin", "transaction"],
  ["start transaction isolation level repeatable read", "transaction"],
  ["commit", "transaction"],
  ["end", "transaction"],
  ["rollback", "transaction"],
  ["abort", "transaction"],
  ["savepoint a", "transaction"],
  ["release savepoint a", "transaction"],
  ["rollback to savepoint a", "transaction"],
  ["prepare transaction 'x'", "transaction"],
  ["commit prepared 'x'", "transaction"],
  ["rollback prepared 'x'", "transaction"],

  // The original only.
  ["listen ch", "originalOnly"],
  ["unlisten ch", "originalOnly"],
  ["unlisten *", "originalOnly"],
  ["declare c cursor for select * from t", "originalOnly"],
  ["declare c cursor with hold for select * from t for update", "originalOnly", "FOR UPDATE"],
  ["fetch 10 from c", "originalOnly"],
  ["move next in c", "originalOnly"],
  ["close c", "originalOnly"],
  ["close all", "originalOnly"],

  // EXECUTE defaults to a write until the session resolves it.
  ["execute p(1)", "write"],

  // Several statements, routed as one unit.
  ["select 1; select 2", "read"],
  ["select 1; insert into t values (1)", "write"],
  ["begin; select 1", "transaction"],
  ["begin; insert into t values (1); commit", "write"],
  ["set a.b = 1; select 1", "session"],
  ["begin; set local a.b = 1", "transaction"],
  ["listen ch; select 1", "originalOnly"],
  ["listen ch; set a.b = 1", "session"],
  ["fetch 1 from c; begin", "transaction"],
];

const classifier = new Classifier();

for (const [sql, expected, reason] of CASES) {
  Deno.test(`classify: ${JSON.stringify(sql)} is ${expected}${reason ? ` (${reason})` : ""}`, () => {
    const result = classifier.classify(sql);
    assert.equal(result.parseError, undefined);
    assert.equal(result.class, expected);
    assert.equal(result.statements[0]?.reason, reason);
    assert.equal(result.hasWrite, result.statements.some((s) => s.class === "write"));
  });
}

Deno.test("classify: an empty or comment-only text has no statements", () => {
  for (const sql of ["", "   ", "-- nothing", "/* a */ ; ;"]) {
    const result = classifier.classify(sql);
    assert.deepEqual(result, { class: "read", statements: [], hasWrite: false });
  }
});

Deno.test("classify: a text that does not parse is a write with the parser's message", () => {
  const result = classifier.classify("selec 1");
  assert.equal(result.class, "write");
  assert.deepEqual(result.statements, []);
  assert.equal(result.parseError, 'syntax error at or near "selec"');
  assert.equal(result.hasWrite, false);
});

Deno.test("classify: a parse error anywhere makes the whole string a write", () => {
  const result = classifier.classify("select 1; select from from");
  assert.equal(result.class, "write");
  assert.match(result.parseError ?? "", /syntax error/);
});

Deno.test("classify: a text with a NUL character is a write, never cut short", () => {
  const result = classifier.classify("select 1\0; delete from t");
  assert.equal(result.class, "write");
  assert.match(result.parseError ?? "", /NUL/);
});

Deno.test("classify: a non-breaking space alone is a syntax error, as on the server", () => {
  const result = classifier.classify("\u00a0");
  assert.equal(result.class, "write");
  assert.match(result.parseError ?? "", /syntax error/);
});

Deno.test("classify: a deeply nested expression is walked without recursion", () => {
  const sql = `select ${"(".repeat(5000)}myfunc()${")".repeat(5000)}`;
  const result: Classification = classifier.classify(sql);
  assert.equal(result.parseError, undefined);
  assert.equal(result.statements[0]?.reason, 'calls function "myfunc"');
});

Deno.test("classify: a tree too deep for the parser is a write when parsing fails", () => {
  const c = new Classifier();
  const sum = `select ${Array.from({ length: 20_000 }, (_, i) => `f${i}(a)`).join(" + ")}`;
  for (const sql of [sum, `select ${"(".repeat(50_000)}1${")".repeat(50_000)}`]) {
    const result = c.classify(sql);
    assert.equal(result.class, "write");
    assert.ok(result.parseError, "a parse error");
  }
  assert.equal(c.classify("select lower('a')").class, "read"); // the parser still works
});
