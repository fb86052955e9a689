import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The embedded job store: `<output-dir>/majicflux.sqlite` (SQLite in WAL mode, through GRDB), with
/// the pictures as PNG files beside it, as before.
///
/// Crash safety: a picture's PNG (and its input pictures) are written first, atomically
/// (`PictureFile`: a hidden file, fsync, then a hard link to the final name), and its history row
/// is committed after, in the same transaction that marks the job done. A process killed between the
/// two leaves a PNG without a row: the next open imports it from its text chunks (and, through its
/// `majicflux-job` chunk, marks its job done, so it does not run again). SQLite's journal keeps the
/// database itself whole through a kill at any moment.
///
/// A database that SQLite cannot read, or whose quick check finds damage, is reported when the
/// store opens (`JobStoreError.damaged`, saying what to do) and never replaced.
///
/// An older version's history index (`history.json`) is imported once (the file is kept, no longer
/// written; the setting `history_json_imported` records the import).
final class SQLiteJobStore: JobStore {
    let kind = "sqlite"
    let location: String
    let leaseSeconds: Double
    /// The output folder: the PNGs and the database.
    let directory: String
    private let pool: DatabasePool
    private let broadcaster = ChangeBroadcaster()
    /// Every worker of this process holds a lock file while it lives: a killed one is seen at once.
    private let locks: WorkerLockFiles
    /// The next picture number: above every number in the folder, the history and the record of
    /// numbers used (a deleted picture's number is not reused: a browser may hold its URL as immutable).
    private let numbers: NumberCounter
    /// Counts the calls in flight; closing waits for them.
    private let gate = CallGate()
    /// What the open found and did, for the log ("imported 12 entries of history.json").
    let notes: [String]

    static let fileName = "majicflux.sqlite"
    static let indexFileName = "history.json"

    /// Opens (creating) the database in `directory` (created too), runs the migrations, then
    /// reconciles the history with the folder. Throws `damaged` for a database that cannot be used.
    init(directory: String, leaseSeconds: Double = 30) throws {
        self.directory = directory
        self.leaseSeconds = leaseSeconds
        let path = directory + "/" + Self.fileName
        location = path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw JobStoreError.other("cannot create the output folder \(directory): \(error.localizedDescription)")
        }
        // A folder or database this process may not write is not a damaged database (it said so,
        // with the advice to move the file aside).
        for (what, target) in [("the output folder", directory), ("the job database", path)]
        where FileManager.default.fileExists(atPath: target) && access(target, W_OK) != 0 {
            let reason = errno == EROFS ? "it is on a read-only file system" : "permission denied (\(String(cString: strerror(errno))))"
            throw JobStoreError.other("cannot write \(what) \(target): \(reason); choose another with --output-dir, or fix its permissions")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)  // another process (a second server on the folder) holding the write lock
        config.prepareDatabase { db in
            // WAL: readers never wait for the writer; NORMAL: a commit survives a killed process (not
            // a power cut, which may lose the last commits but never corrupts the file).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do {
            // Checked before the pool opens it: opening a pool writes (GRDB makes sure the WAL file
            // exists), and a damaged file must stay exactly as it is.
            if FileManager.default.fileExists(atPath: path) {
                let check = try DatabaseQueue(path: path)
                let problems = try check.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
                try check.close()
                if problems != ["ok"] {
                    throw JobStoreError.damaged(path: path, problem: problems.prefix(3).joined(separator: "; "), advice: Self.advice(path))
                }
            }
            pool = try DatabasePool(path: path, configuration: config)
            let migrator = Self.migrator
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw JobStoreError.other("the job database \(path) was made by a newer majicflux (its schema has migrations this version does not know); run that version, or move the file aside and restart (pictures are re-imported from the PNGs)")
            }
            try migrator.migrate(pool)
        } catch let e as JobStoreError {
            throw e
        } catch let e as DatabaseError {
            throw JobStoreError.damaged(path: path, problem: e.message ?? "\(e.resultCode)", advice: Self.advice(path))
        } catch {
            throw JobStoreError.damaged(path: path, problem: "\(error)", advice: Self.advice(path))
        }
        self.pool = pool
        locks = WorkerLockFiles(directory: directory)
        let (notes, highest) = try Self.reconcile(pool: pool, directory: directory)
        self.notes = notes
        numbers = NumberCounter(next: highest + 1)
    }

    static func advice(_ path: String) -> String {
        "stop majicflux, move it aside (with any \(fileName)-wal and \(fileName)-shm beside it) and restart; "
            + "pictures are re-imported from the PNGs in \((path as NSString).deletingLastPathComponent)/"
    }

    /// Every schema change, in order (GRDB records the applied ones in `grdb_migrations`).
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: jobs, inputs, history, workers, settings") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    parameters TEXT NOT NULL,
                    requirements TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created REAL NOT NULL,
                    started REAL,
                    finished REAL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL DEFAULT 3,
                    worker_id TEXT,
                    lease_until REAL,
                    progress TEXT,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    error TEXT,
                    history TEXT);
                CREATE INDEX jobs_by_status ON jobs(status, seq);
                CREATE TABLE job_inputs (
                    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    role TEXT NOT NULL,
                    png BLOB NOT NULL,
                    PRIMARY KEY (job_id, role));
                CREATE TABLE history (
                    file TEXT PRIMARY KEY,
                    number INTEGER NOT NULL,
                    job_id TEXT NOT NULL,
                    created REAL NOT NULL,
                    entry TEXT NOT NULL);
                CREATE INDEX history_by_number ON history(number);
                CREATE TABLE workers (
                    id TEXT PRIMARY KEY,
                    record TEXT NOT NULL,
                    last_seen REAL NOT NULL);
                CREATE TABLE settings (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL);
                """)
        }
        return m
    }

    // MARK: Opening: the folder is the truth for pictures

    /// Drops history rows whose PNG is gone, imports PNGs without a row (and, once, `history.json`),
    /// marks the jobs of imported pictures done, forgets workers of earlier runs; returns notes and
    /// the highest picture number in use.
    private static func reconcile(pool: DatabasePool, directory: String) throws -> ([String], Int) {
        PictureFile.removePartials(in: directory)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { HistoryStore.isSafeName($0) }.sorted()
        return try pool.write { db in
            var notes: [String] = []
            let rows = try Row.fetchAll(db, sql: "SELECT entry FROM history ORDER BY number, rowid")
            let listed = rows.compactMap { try? decode(HistoryEntry.self, $0["entry"] as String) }
            var index = listed
            let indexPath = directory + "/" + indexFileName
            if try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'history_json_imported'") == nil,
               let data = FileManager.default.contents(atPath: indexPath) {
                if let old = try? JSONDecoder().decode([HistoryEntry].self, from: data) {
                    let known = Set(index.map(\.file))
                    index += old.filter { !known.contains($0.file) }
                    let note = "imported \(old.count) entries of \(indexFileName) on \(ISO8601DateFormatter().string(from: Date())); the file is kept but no longer written"
                    try db.execute(sql: "INSERT INTO settings(key, value) VALUES ('history_json_imported', ?)", arguments: [note])
                    notes.append(note)
                } else {
                    notes.append("\(indexPath) could not be read as a history index; pictures are listed from the PNGs")
                }
            }
            let entries = HistoryStore.reconcile(index: index, files: names, directory: directory)
            let keep = Set(entries.map(\.file))
            let listedFiles = Set(listed.map(\.file))
            for gone in listed where !keep.contains(gone.file) {
                try db.execute(sql: "DELETE FROM history WHERE file = ?", arguments: [gone.file])
            }
            var imported = 0
            for entry in entries where !listedFiles.contains(entry.file) {
                try insertHistory(db, entry)
                imported += 1
                // A picture written just before a kill: its job is done, not to run again.
                try db.execute(sql: """
                    UPDATE jobs SET status = 'done', finished = ?, history = ?, error = NULL, lease_until = NULL
                    WHERE id = ? AND status IN ('queued', 'running')
                    """, arguments: [entry.created, try encode(entry), entry.id])
            }
            if imported > 0 { notes.append("listed \(imported) pictures found in \(directory)/ without a history row") }
            // Workers of an earlier run are gone (this process registers its own), and finished jobs'
            // records with them (their pictures stay in the history); jobs still queued or running
            // when a server was killed stay, and run again.
            try db.execute(sql: "DELETE FROM workers")
            try db.execute(sql: "DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled')")
            let used = entries.map(\.file) + names + listed.map(\.file)
            let highest = max(used.compactMap(HistoryEntry.number(ofFile:)).max() ?? 0,
                              Int(try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'last_picture_number'") ?? "") ?? 0)
            return (notes, highest)
        }
    }

    private static func insertHistory(_ db: Database, _ entry: HistoryEntry) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO history(file, number, job_id, created, entry) VALUES (?, ?, ?, ?, ?)",
                       arguments: [entry.file, HistoryEntry.number(ofFile: entry.file) ?? 0, entry.id, entry.created, try encode(entry)])
    }

    // MARK: Front end

    func enqueue(_ job: NewJob, maxQueued: Int) async throws -> StoredJob {
        try await enqueueGroup([job], maxQueued: maxQueued)[0]
    }

    func enqueueGroup(_ jobs: [NewJob], maxQueued: Int) async throws -> [StoredJob] {
        let encoded = try jobs.map { (try Self.encode($0.requirements), try Self.encode($0.parameters)) }
        try await write { db in
            let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE status = 'queued'") ?? 0
            if waiting + jobs.count > maxQueued { throw JobStoreError.queueFull(limit: maxQueued) }
            for (job, (requirements, parameters)) in zip(jobs, encoded) {
                try db.execute(sql: """
                    INSERT INTO jobs(id, parameters, requirements, status, created, max_attempts)
                    VALUES (?, ?, ?, 'queued', ?, ?)
                    """, arguments: [job.id, parameters, requirements, job.created, job.maxAttempts])
                for input in job.inputs {
                    try db.execute(sql: "INSERT INTO job_inputs(job_id, role, png) VALUES (?, ?, ?)",
                                   arguments: [job.id, input.role, Data(input.png)])
                }
            }
        }
        var stored: [StoredJob] = []
        for job in jobs {
            broadcaster.send(.jobQueued(job.id))
            stored.append(try await required(job.id))
        }
        return stored
    }

    func job(_ id: String) async throws -> StoredJob? {
        try await read { db in try Self.fetchJob(db, id) }
    }

    private func required(_ id: String) async throws -> StoredJob {
        guard let job = try await job(id) else { throw JobStoreError.notFound("unknown job id \"\(id.prefix(64))\"") }
        return job
    }

    func activeJobs() async throws -> [StoredJob] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE status = 'running' ORDER BY started, seq").map(Self.job(from:))
                + Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq").map(Self.job(from:))
        }
    }

    func requestCancel(_ id: String) async throws -> StoredJob {
        let now = Date().timeIntervalSince1970
        let job = try await write { db -> StoredJob in
            guard let job = try Self.fetchJob(db, id) else { throw JobStoreError.notFound("unknown job id \"\(id.prefix(64))\"") }
            switch job.status {
            case .queued:
                try Self.finish(db, id, .cancelled, error: "cancelled", at: now)
            case .running:
                try db.execute(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", arguments: [id])
            case .done, .failed, .cancelled:
                throw JobStoreError.alreadyFinished(id: id, status: job.status)
            }
            return try Self.fetchJob(db, id)!
        }
        broadcaster.send(.job(id))
        return job
    }

    func pruneFinished(keep: Int) async throws {
        try await write { db in
            try db.execute(sql: """
                DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND seq NOT IN (
                    SELECT seq FROM jobs WHERE status IN ('done', 'failed', 'cancelled') ORDER BY finished DESC, seq DESC LIMIT ?)
                """, arguments: [max(0, keep)])
        }
    }

    // MARK: History

    func history() async throws -> [HistoryEntry] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT entry FROM history ORDER BY number DESC, rowid DESC")
                .compactMap { try? Self.decode(HistoryEntry.self, $0) }
        }
    }

    func historyEntry(file: String) async throws -> HistoryEntry? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT entry FROM history WHERE file = ?", arguments: [file])
                .flatMap { try? Self.decode(HistoryEntry.self, $0) }
        }
    }

    func picture(file: String) async throws -> Data {
        guard HistoryStore.isSafeName(file) else { throw JobStoreError.notFound("no such image: \(file.prefix(64))") }
        // A picture, or an input picture `NNNNN-SEED-role.png` of the picture `NNNNN-SEED.png`.
        var listed = try await historyEntry(file: file) != nil
        if !listed, let dash = file.dropLast(4).lastIndex(of: "-") {
            let owner = String(file[..<dash]) + ".png"
            listed = try await historyEntry(file: owner)?.inputFiles.contains(file) ?? false
        }
        guard listed else { throw JobStoreError.notFound("no such image: \(file)") }
        do { return try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)) } catch {
            throw JobStoreError.notFound("image \(file) is listed but its file is gone from \(directory)")
        }
    }

    func deleteHistory(file: String) async throws -> HistoryEntry {
        let entry = try await write { db -> HistoryEntry in
            guard let text = try String.fetchOne(db, sql: "SELECT entry FROM history WHERE file = ?", arguments: [file]),
                  let entry = try? Self.decode(HistoryEntry.self, text) else {
                throw JobStoreError.notFound("no such history entry: \(file)")
            }
            try db.execute(sql: "DELETE FROM history WHERE file = ?", arguments: [file])
            return entry
        }
        // The row goes first: a kill before the files go leaves a PNG that the next start lists
        // again, never a row without its picture.
        for name in [entry.file] + entry.inputFiles { unlink(directory + "/" + name) }
        return entry
    }

    // MARK: Settings

    func setting(_ key: String) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    func setSetting(_ key: String, _ value: String?) async throws {
        try await write { db in
            if let value {
                try db.execute(sql: "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", arguments: [key, value])
            } else {
                try db.execute(sql: "DELETE FROM settings WHERE key = ?", arguments: [key])
            }
        }
    }

    // MARK: Workers

    func register(_ worker: WorkerRecord) async throws {
        var w = worker
        w.lastSeen = Date().timeIntervalSince1970
        let record = try Self.encode(w)
        locks.hold(w.id)
        try await write { [w] db in
            try db.execute(sql: "INSERT OR REPLACE INTO workers(id, record, last_seen) VALUES (?, ?, ?)",
                           arguments: [w.id, record, w.lastSeen])
        }
        broadcaster.send(.worker(worker.id))
    }

    func workers() async throws -> [WorkerRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT record, last_seen FROM workers ORDER BY id").compactMap { row in
                var w = try? Self.decode(WorkerRecord.self, row["record"] as String)
                w?.lastSeen = row["last_seen"]
                return w
            }
        }
    }

    func removeWorker(_ id: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM workers WHERE id = ?", arguments: [id]) }
        locks.release(id)
        broadcaster.send(.worker(id))
    }

    func claim(worker: WorkerRecord) async throws -> ClaimedJob? {
        try await claimBatch(worker: worker, limit: 1).first
    }

    func claimBatch(worker: WorkerRecord, limit: Int) async throws -> [ClaimedJob] {
        let now = Date().timeIntervalSince1970
        let claimed = try await write { db -> [ClaimedJob] in
            let candidates = try Row.fetchAll(db, sql: "SELECT id, requirements, parameters FROM jobs WHERE status = 'queued' ORDER BY seq")
                .filter { row in try Self.decode(JobRequirements.self, row["requirements"] as String).canRun(on: worker) }
            guard let first = candidates.first, let job = try self.claimRow(db, first["id"], worker: worker, now: now) else { return [] }
            var jobs = [job]
            // The rest of its batch group, in run order (one write transaction: nobody claims between).
            if let group = job.job.parameters.batch_group {
                for row in candidates.dropFirst() where jobs.count < limit {
                    guard try Self.decode(JobParameters.self, row["parameters"] as String).batch_group == group,
                          let sibling = try self.claimRow(db, row["id"], worker: worker, now: now) else { continue }
                    jobs.append(sibling)
                }
            }
            return jobs
        }
        for c in claimed { broadcaster.send(.job(c.job.id)) }
        return claimed
    }

    /// Marks queued job `id` running for `worker` (lease, attempt, first progress); the job and its inputs.
    private func claimRow(_ db: Database, _ id: String, worker: WorkerRecord, now: Double) throws -> ClaimedJob? {
        let lease = leaseSeconds
        guard var job = try Self.fetchJob(db, id) else { return nil }
        let progress = JobProgress(stage: "encoding text", step: 0, totalSteps: job.parameters.steps)
        try db.execute(sql: """
            UPDATE jobs SET status = 'running', worker_id = ?, attempts = attempts + 1, started = ?,
                lease_until = ?, progress = ? WHERE id = ?
            """, arguments: [worker.id, now, now + lease, try Self.encode(progress), id])
        try db.execute(sql: "UPDATE workers SET last_seen = ? WHERE id = ?", arguments: [now, worker.id])
        job = try Self.fetchJob(db, id)!
        let inputs = try Row.fetchAll(db, sql: "SELECT role, png FROM job_inputs WHERE job_id = ?", arguments: [id])
            .map { JobInputPicture(role: $0["role"], png: [UInt8]($0["png"] as Data)) }
        return ClaimedJob(job: job, inputs: inputs)
    }

    func heartbeat(jobID: String, workerID: String, progress: JobProgress?) async throws -> LeaseState {
        let now = Date().timeIntervalSince1970, lease = leaseSeconds
        let encoded = try progress.map { try Self.encode($0) }
        let state = try await write { db -> LeaseState in
            try db.execute(sql: "UPDATE workers SET last_seen = ? WHERE id = ?", arguments: [now, workerID])
            try db.execute(sql: """
                UPDATE jobs SET lease_until = ?, progress = COALESCE(?, progress)
                WHERE id = ? AND status = 'running' AND worker_id = ?
                """, arguments: [now + lease, encoded, jobID, workerID])
            guard db.changesCount > 0 else { return LeaseState(cancelRequested: false, leaseLost: true) }
            let cancel = try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM jobs WHERE id = ?", arguments: [jobID]) ?? false
            return LeaseState(cancelRequested: cancel, leaseLost: false)
        }
        if !state.leaseLost, progress != nil { broadcaster.send(.job(jobID)) }
        return state
    }

    func complete(jobID: String, workerID: String, picture: FinishedPicture) async throws -> HistoryEntry {
        let directory = self.directory
        // The PNGs first (outside the database's write lock: encoding takes a while), under a number
        // no other picture has; then the row, in the transaction that marks the job done.
        let (stored, written, number) = try writeFiles(picture, jobID: jobID)
        let entry = stored.entry, encodedEntry = try Self.encode(entry), n = number
        do {
            try await write { db in
                guard try Self.holds(db, jobID: jobID, workerID: workerID) else {
                    throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
                }
                try Self.insertHistory(db, entry)
                try db.execute(sql: """
                    UPDATE jobs SET status = 'done', finished = ?, history = ?, error = NULL, lease_until = NULL,
                        progress = json_remove(progress, '$.preview', '$.previewStep') WHERE id = ?
                    """, arguments: [Date().timeIntervalSince1970, encodedEntry, jobID])
                try db.execute(sql: "DELETE FROM job_inputs WHERE job_id = ?", arguments: [jobID])
                try db.execute(sql: """
                    INSERT INTO settings(key, value) VALUES ('last_picture_number', ?)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)
                    """, arguments: [String(n)])
            }
        } catch {
            for name in written { unlink(directory + "/" + name) }
            throw error
        }
        broadcaster.send(.job(jobID))
        return entry
    }

    private struct NameTaken: Error {}

    /// The picture's files under the next free number (a name taken behind our back is skipped,
    /// never replaced): what was stored, the names written, the number.
    private func writeFiles(_ picture: FinishedPicture, jobID: String) throws -> (StoredPicture, [String], Int) {
        while true {
            let number = numbers.take()
            let stored = try picture.materialize(file: picture.fileName(number: number), jobID: jobID,
                                                 created: Date().timeIntervalSince1970)
            do {
                return (stored, try Self.write(stored, in: directory), number)
            } catch is NameTaken {
                continue
            }
        }
    }

    /// Writes the input pictures, then the picture; returns the names written. `NameTaken` (with
    /// nothing left behind) when one of the names exists.
    private static func write(_ p: StoredPicture, in directory: String) throws -> [String] {
        let names = [p.entry.file] + p.inputs.map(\.file)
        if names.contains(where: { FileManager.default.fileExists(atPath: directory + "/" + $0) }) { throw NameTaken() }
        var written: [String] = []
        do {
            for (name, png) in p.inputs + [(p.entry.file, p.png)] {
                guard try PictureFile.create(png, name: name, in: directory) else { throw NameTaken() }
                written.append(name)
            }
        } catch {
            for name in written { unlink(directory + "/" + name) }
            throw error
        }
        return written
    }

    func fail(jobID: String, workerID: String, error: String, retry: Bool) async throws -> JobStatus {
        let now = Date().timeIntervalSince1970
        let status = try await write { db -> JobStatus in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else {
                throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
            }
            let attempts = try Row.fetchOne(db, sql: "SELECT attempts, max_attempts FROM jobs WHERE id = ?", arguments: [jobID])!
            if retry && (attempts["attempts"] as Int) < (attempts["max_attempts"] as Int) {
                try Self.requeue(db, jobID, error: error)
                return .queued
            }
            try Self.finish(db, jobID, .failed, error: error, at: now)
            return .failed
        }
        broadcaster.send(status == .queued ? .jobQueued(jobID) : .job(jobID))
        return status
    }

    func cancelled(jobID: String, workerID: String, reason: String) async throws {
        let now = Date().timeIntervalSince1970
        try await write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else {
                throw JobStoreError.notHeld(jobID: jobID, workerID: workerID)
            }
            try Self.finish(db, jobID, .cancelled, error: reason, at: now)
        }
        broadcaster.send(.job(jobID))
    }

    func release(jobID: String, workerID: String) async throws {
        try await write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { return }
            try db.execute(sql: "UPDATE jobs SET attempts = max(0, attempts - 1) WHERE id = ?", arguments: [jobID])
            try Self.requeue(db, jobID, error: nil)
        }
        broadcaster.send(.jobQueued(jobID))
    }

    /// Also at once, lease or not: the jobs of a worker whose process has ended (its lock file is
    /// free: `WorkerLockFiles`), so a killed server's running job runs first after the restart.
    func requeueExpired() async throws -> [String] {
        let now = Date().timeIntervalSince1970
        let workers = try await read { db in
            try String.fetchAll(db, sql: """
                SELECT id FROM workers UNION SELECT worker_id FROM jobs WHERE status = 'running' AND worker_id IS NOT NULL
                """)
        }
        let dead = Set(workers.filter { locks.isDead($0) })
        let changed = try await write { [dead] db -> [(String, JobStatus)] in
            for id in dead { try db.execute(sql: "DELETE FROM workers WHERE id = ?", arguments: [id]) }
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, attempts, max_attempts, worker_id, cancel_requested, error, lease_until FROM jobs
                WHERE status = 'running'
                """).filter { row in (row["lease_until"] as Double? ?? 0) < now || dead.contains(row["worker_id"] as String? ?? "") }
            return try rows.map { row in
                let id: String = row["id"], worker: String = row["worker_id"] ?? "?"
                let lost = dead.contains(worker) ? "its worker \(worker) ended (its process is gone)"
                    : "its worker \(worker) stopped answering (no heartbeat for \(Int(self.leaseSeconds)) s)"
                if row["cancel_requested"] as Bool {
                    try Self.finish(db, id, .cancelled, error: "cancelled", at: now)
                    return (id, .cancelled)
                }
                if (row["attempts"] as Int) >= (row["max_attempts"] as Int) {
                    let last: String? = row["error"]
                    try Self.finish(db, id, .failed, error: "failed after \(row["attempts"] as Int) attempts: \(lost)" + (last.map { "; earlier: \($0)" } ?? ""), at: now)
                    return (id, .failed)
                }
                try Self.requeue(db, id, error: lost + "; re-queued")
                return (id, .queued)
            }
        }
        for id in dead { broadcaster.send(.worker(id)) }
        for (id, status) in changed { broadcaster.send(status == .queued ? .jobQueued(id) : .job(id)) }
        return changed.map(\.0)
    }

    // MARK: Notification

    func changes() -> AsyncStream<StoreChange> { broadcaster.subscribe() }

    /// Ends the change streams, waits for the calls in flight (later ones throw `closed`: a closed
    /// GRDB connection would hand SQLite a nil handle), moves everything into the main file (GRDB's
    /// read-only readers cannot checkpoint when they close last, so a stopped server's folder holds
    /// one self-contained majicflux.sqlite to copy), then closes the connections.
    func close() async {
        guard await gate.closeAndDrain() else { return }
        broadcaster.finish()
        locks.releaseAll()
        _ = try? await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try? pool.close()
    }

    /// A read through the gate (`closed` once the store is closing).
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try gate.enter()
        defer { gate.leave() }
        return try await pool.read(body)
    }

    /// A write transaction through the gate.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try gate.enter()
        defer { gate.leave() }
        return try await pool.write(body)
    }

    /// `PRAGMA integrity_check` of the database in `directory` (["ok"] when whole), read through a
    /// connection of its own.
    static func integrityCheck(directory: String) throws -> [String] {
        let queue = try DatabaseQueue(path: directory + "/" + fileName)
        defer { try? queue.close() }
        return try queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    // MARK: Rows

    private static func holds(_ db: Database, jobID: String, workerID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND worker_id = ?",
                          arguments: [jobID, workerID]) ?? false
    }

    private static func finish(_ db: Database, _ id: String, _ status: JobStatus, error: String?, at now: Double) throws {
        try db.execute(sql: """
            UPDATE jobs SET status = ?, error = ?, finished = ?, lease_until = NULL,
                progress = json_remove(progress, '$.preview', '$.previewStep') WHERE id = ?
            """, arguments: [status.rawValue, error, now, id])
        try db.execute(sql: "DELETE FROM job_inputs WHERE job_id = ?", arguments: [id])
    }

    private static func requeue(_ db: Database, _ id: String, error: String?) throws {
        try db.execute(sql: """
            UPDATE jobs SET status = 'queued', lease_until = NULL, progress = NULL, cancel_requested = 0,
                error = COALESCE(?, error) WHERE id = ?
            """, arguments: [error, id])
    }

    private static func fetchJob(_ db: Database, _ id: String) throws -> StoredJob? {
        try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(job(from:))
    }

    private static func job(from row: Row) throws -> StoredJob {
        StoredJob(id: row["id"], parameters: try decode(JobParameters.self, row["parameters"]),
                  requirements: try decode(JobRequirements.self, row["requirements"]),
                  status: JobStatus(rawValue: row["status"]) ?? .failed,
                  created: row["created"], started: row["started"], finished: row["finished"],
                  attempts: row["attempts"], maxAttempts: row["max_attempts"], workerID: row["worker_id"],
                  leaseUntil: row["lease_until"],
                  progress: (row["progress"] as String?).flatMap { try? decode(JobProgress.self, $0) },
                  cancelRequested: row["cancel_requested"], error: row["error"],
                  history: (row["history"] as String?).flatMap { try? decode(HistoryEntry.self, $0) })
    }

    static func encode(_ value: some Encodable) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

/// Picture numbers handed out in this process (never twice).
// unchecked: `next` is only touched under `lock`.
final class NumberCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next: Int
    init(next: Int) { self.next = next }
    func take() -> Int {
        lock.withLock {
            defer { next += 1 }
            return next
        }
    }
}

/// Calls in flight on a store, so that closing waits for them and refuses later ones.
// unchecked: `open`, `inFlight` and `drained` are only touched under `lock`.
final class CallGate: @unchecked Sendable {
    private let lock = NSLock()
    private var open = true
    private var inFlight = 0
    private var drained: [CheckedContinuation<Void, Never>] = []

    /// Counts a call in; `closed` once closing began.
    func enter() throws {
        try lock.withLock {
            guard open else { throw JobStoreError.closed }
            inFlight += 1
        }
    }

    func leave() {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            inFlight -= 1
            guard inFlight == 0 else { return [] }
            defer { drained.removeAll() }
            return drained
        }
        for c in waiting { c.resume() }
    }

    /// Refuses new calls and waits for those in flight; false when already closed before.
    func closeAndDrain() async -> Bool {
        let first = lock.withLock { () -> Bool in
            defer { open = false }
            return open
        }
        guard first else { return false }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if inFlight == 0 { return true }
                drained.append(c)
                return false
            }
            if now { c.resume() }
        }
        return true
    }
}

/// The in-process side of `changes()`: every subscriber gets every change.
// unchecked: `subscribers`, `nextKey` and `finished` are only touched under `lock`.
final class ChangeBroadcaster: @unchecked Sendable {
    private let lock = NSLock()
    private var subscribers: [Int: AsyncStream<StoreChange>.Continuation] = [:]
    private var nextKey = 0
    private var finished = false

    func subscribe() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream<StoreChange>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let key = lock.withLock { () -> Int? in
            if finished { return nil }
            defer { nextKey += 1 }
            subscribers[nextKey] = continuation
            return nextKey
        }
        guard let key else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            _ = self.lock.withLock { self.subscribers.removeValue(forKey: key) }
        }
        return stream
    }

    func send(_ change: StoreChange) {
        let targets = lock.withLock { Array(subscribers.values) }
        for c in targets { c.yield(change) }
    }

    func finish() {
        let targets = lock.withLock { () -> [AsyncStream<StoreChange>.Continuation] in
            finished = true
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for c in targets { c.finish() }
    }
}
