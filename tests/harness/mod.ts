/**
 * @module
 * Everything integration tests need in one import: clusters of real PostgreSQL servers, usogres
 * as a subprocess, and real clients (psql, pgbench, node-postgres, postgres.js). No mocks.
 */

export * from "./cluster.ts";
export * from "./clients.ts";
