import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// `serve` with an output folder it may not write says so; it said "the job database ... is damaged
/// ... move it aside", advice that helps nobody (the file need not even exist).
final class OutputFolderPermissionTests: XCTestCase {
    func testAnOutputFolderItCannotWriteIsNamedNotCalledDamaged() throws {
        let folder = TestConsole.freshOutputDirectory() + "/locked"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var binary = try TestConsole.executable()
        var prefix: [String] = []
        if geteuid() == 0 {
            // root writes anywhere: run as nobody (the folder stays root's, 0755).
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("root without setpriv: cannot run as another user") }
            prefix = ["--reuid=65534", "--regid=65534", "--clear-groups", binary.path]
            binary = URL(fileURLWithPath: "/usr/bin/setpriv")
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
        }
        addTeardownBlock { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
        let (p, log) = try TestConsole.launch(binary, prefix + ["serve", "--model", TestConsole.tinyModel, "--device", "cpu",
                                                                "--port", "0", "--output-dir", folder])
        p.waitForExit(within: 60, "serve on a folder it cannot write", log: log)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertNotEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("cannot write the output folder \(folder): permission denied"), text)
        XCTAssertFalse(text.contains("damaged"), text)
    }
}
