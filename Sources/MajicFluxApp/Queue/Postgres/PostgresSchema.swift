import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL job store's schema, as numbered migrations applied in order on start.
///
/// Each applied version is a row of `majicflux_schema_migrations`. Migrations run under a session
/// advisory lock, so processes starting together (a front end and its workers) apply each one
/// exactly once; the others wait, then find nothing left to do. A database whose schema is newer
/// than this program is refused with a message (run the newer majicflux), never downgraded.
enum PostgresSchema {
    /// A key for `pg_advisory_lock`, fixed for every majicflux process ("majicflx" in ASCII).
    static let lockKey: Int64 = 0x6D61_6A69_6366_6C78

    /// The migrations, version = index + 1. Never edit one that has shipped: append a new one.
    /// One statement per string (the extended protocol runs one at a time).
    static let migrations: [[String]] = [
        // 1: jobs, their input pictures, the history with its pictures, workers, settings,
        // and the triggers that NOTIFY every change.
        [
            """
            CREATE TABLE majicflux_jobs (
                id text PRIMARY KEY,
                seq bigserial NOT NULL UNIQUE,
                status text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
                spec text NOT NULL,
                model text,
                loras text[] NOT NULL DEFAULT '{}',
                total_steps int NOT NULL DEFAULT 0,
                created timestamptz NOT NULL DEFAULT now(),
                started timestamptz,
                finished timestamptz,
                worker_id text,
                lease_until timestamptz,
                attempts int NOT NULL DEFAULT 0,
                max_attempts int NOT NULL DEFAULT 3,
                cancel_requested boolean NOT NULL DEFAULT false,
                stage text,
                step int NOT NULL DEFAULT 0,
                eta double precision,
                preview text,
                preview_step int,
                error text,
                result_file text
            )
            """,
            "CREATE INDEX majicflux_jobs_queued ON majicflux_jobs (seq) WHERE status = 'queued'",
            "CREATE INDEX majicflux_jobs_running ON majicflux_jobs (lease_until) WHERE status = 'running'",
            """
            CREATE TABLE majicflux_job_inputs (
                job_id text NOT NULL REFERENCES majicflux_jobs (id) ON DELETE CASCADE,
                role text NOT NULL,
                png bytea NOT NULL,
                PRIMARY KEY (job_id, role)
            )
            """,
            """
            CREATE TABLE majicflux_history (
                number bigserial PRIMARY KEY,
                file text NOT NULL UNIQUE,
                job_id text NOT NULL UNIQUE,
                created timestamptz NOT NULL DEFAULT now(),
                entry text NOT NULL,
                png bytea NOT NULL
            )
            """,
            """
            CREATE TABLE majicflux_history_files (
                file text PRIMARY KEY,
                number bigint NOT NULL REFERENCES majicflux_history (number) ON DELETE CASCADE,
                png bytea NOT NULL
            )
            """,
            """
            CREATE TABLE majicflux_workers (
                id text PRIMARY KEY,
                name text NOT NULL,
                device text NOT NULL,
                model text,
                loras text[] NOT NULL DEFAULT '{}',
                state text NOT NULL,
                job_id text,
                message text,
                started timestamptz NOT NULL DEFAULT now(),
                last_seen timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE TABLE majicflux_settings (key text PRIMARY KEY, value text NOT NULL)",
            """
            CREATE FUNCTION majicflux_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('majicflux_job_changed', NEW.id);
                IF NEW.status = 'queued' AND (TG_OP = 'INSERT' OR OLD.status <> 'queued') THEN
                    PERFORM pg_notify('majicflux_job_queued', NEW.id);
                END IF;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER majicflux_jobs_notify AFTER INSERT OR UPDATE ON majicflux_jobs
                FOR EACH ROW EXECUTE FUNCTION majicflux_notify_job()
            """,
            """
            CREATE FUNCTION majicflux_notify_worker() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('majicflux_worker_changed', COALESCE(NEW.id, OLD.id));
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER majicflux_workers_notify AFTER INSERT OR UPDATE OR DELETE ON majicflux_workers
                FOR EACH ROW EXECUTE FUNCTION majicflux_notify_worker()
            """,
        ],
    ]

    static var latestVersion: Int { migrations.count }

    /// Brings the database to `latestVersion` on `connection`; returns the versions applied.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, url: PostgresURL, logger: Logger) async throws -> [Int] {
        do {
            _ = try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger).collect()
        } catch {
            throw url.explain(error, doing: "taking the schema lock")
        }
        do {
            let applied = try await migrateLocked(connection, url: url, logger: logger)
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger).collect()
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger).collect()
            throw error
        }
    }

    private static func migrateLocked(_ connection: PostgresConnection, url: PostgresURL, logger: Logger) async throws -> [Int] {
        let current: Int
        do {
            _ = try await connection.query("""
                CREATE TABLE IF NOT EXISTS majicflux_schema_migrations (
                    version int PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())
                """, logger: logger).collect()
            var v = 0
            for try await max in try await connection.query(
                "SELECT COALESCE(MAX(version), 0)::int8 FROM majicflux_schema_migrations", logger: logger).decode(Int.self) {
                v = max
            }
            current = v
        } catch {
            throw url.explain(error, doing: "reading the schema version")
        }
        if current > latestVersion {
            throw QueueURLError("PostgreSQL at \(url.redacted): the job store's schema is version \(current), newer than this majicflux knows (\(latestVersion)); run the newer majicflux (nothing was changed)")
        }
        var applied: [Int] = []
        for version in (current + 1)...max(current + 1, latestVersion) where version <= latestVersion {
            do {
                try await connection.withTransaction(logger: logger) { c in
                    for statement in migrations[version - 1] {
                        _ = try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                    }
                    _ = try await c.query("INSERT INTO majicflux_schema_migrations (version) VALUES (\(version))", logger: logger).collect()
                }
            } catch {
                throw url.explain(error, doing: "schema migration \(version)")
            }
            applied.append(version)
        }
        return applied
    }
}
