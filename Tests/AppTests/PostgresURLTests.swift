import Foundation
@testable import MajicFluxApp
import XCTest

/// Where the queue's password comes from: the URL (seen by every user in `ps`: flagged), else
/// PGPASSWORD, else libpq's password file, whose lines, wildcards, escapes and mode rules hold.
final class PostgresURLTests: XCTestCase {
    private func passFile(_ text: String, mode: Int = 0o600) throws -> String {
        let path = NSTemporaryDirectory() + "pgpass-\(UUID().uuidString)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testThePasswordComesFromTheURLThenPGPASSWORDThenThePasswordFile() throws {
        let file = try passFile("""
            # comment
            other:5432:flux:flux:not-this-host
            db:5432:flux:flux:from\\:file\\\\x:ignored
            *:*:*:admin:any-host
            """)
        let env = ["PGPASSFILE": file, "USER": "someone"]
        let inURL = try PostgresURL("postgres://flux:in-url@db:5432/flux", environment: env.merging(["PGPASSWORD": "env"]) { $1 })
        XCTAssertEqual(inURL.password, "in-url")
        XCTAssertTrue(inURL.passwordInURL)
        let fromEnv = try PostgresURL("postgres://flux@db:5432/flux", environment: env.merging(["PGPASSWORD": "env"]) { $1 })
        XCTAssertEqual(fromEnv.password, "env")
        XCTAssertFalse(fromEnv.passwordInURL)
        XCTAssertEqual(try PostgresURL("postgres://flux@db:5432/flux", environment: env).password, "from:file\\x")
        XCTAssertEqual(try PostgresURL("postgres://admin@anywhere:6000/x", environment: env).password, "any-host")
        XCTAssertNil(try PostgresURL("postgres://flux@db:5433/flux", environment: env).password, "another port matches no line")
        XCTAssertNil(try PostgresURL("postgres://flux@db/flux", environment: ["PGPASSFILE": file + "-missing"]).password)
        // A socket connection is "localhost" in the file, as in libpq.
        let local = try passFile("localhost:5432:flux:flux:by-socket\n")
        XCTAssertEqual(try PostgresURL("postgres://flux@/flux?host=/run/postgresql", environment: ["PGPASSFILE": local]).password, "by-socket")
    }

    /// As libpq: not used, with a note naming it (a server that needs no password still works).
    func testAPasswordFileOthersCanReadIsNotUsed() throws {
        let open = try passFile("db:5432:flux:flux:secret\n", mode: 0o644)
        let url = try PostgresURL("postgres://flux@db:5432/flux", environment: ["PGPASSFILE": open])
        XCTAssertNil(url.password)
        XCTAssertEqual(url.notes.count, 1)
        XCTAssertTrue(url.notes[0].contains(open) && url.notes[0].contains("chmod 600"), "\(url.notes)")
        XCTAssertFalse(url.notes[0].contains("secret"))
        // A password in the URL does not read the file at all; it is flagged instead.
        let inURL = try PostgresURL("postgres://flux:x@db:5432/flux", environment: ["PGPASSFILE": open])
        XCTAssertEqual(inURL.password, "x")
        XCTAssertEqual(inURL.notes, [PostgresURL.passwordNote])
    }
}
