import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import MajicFluxApp
import XCTest

/// What `serve` says when it cannot start where it was asked to: a port in use (it printed NIO's
/// "bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)") and a LoRA "folder" that is a
/// file (it said "no such folder").
final class ServeStartupTests: XCTestCase {
    func testABusyPortAndAFileAsLoRAFolderAreNamed() throws {
        // Something else listens on the port.
        let (fd, port) = try TestSockets.listening()
        defer { close(fd) }
        let busy = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", String(port)], limit: 60)
        XCTAssertNotEqual(busy.status, 0, busy.log)
        XCTAssertTrue(busy.log.contains("port \(port) on 127.0.0.1 is in use") && busy.log.contains("--port"), busy.log)
        XCTAssertFalse(busy.log.contains("bind(descriptor"), busy.log)

        let file = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0",
                                             "--lora-dir", TestConsole.tinyModel + "/model_index.json"], limit: 60)
        XCTAssertNotEqual(file.status, 0, file.log)
        XCTAssertTrue(file.log.contains("model_index.json: a file, not a folder"), file.log)
    }

    /// The banner's address opens in a browser: IPv6 in brackets (it printed http://::1:6006/), a
    /// wildcard host as the loopback address with a word on the interfaces.
    func testTheBannerAddressIsAURL() {
        XCTAssertEqual(ConsoleServer.address(host: "127.0.0.1", port: 6006), "http://127.0.0.1:6006/")
        XCTAssertEqual(ConsoleServer.address(host: "::1", port: 6006), "http://[::1]:6006/")
        XCTAssertEqual(ConsoleServer.address(host: "localhost", port: 80), "http://localhost:80/")
        XCTAssertTrue(ConsoleServer.address(host: "0.0.0.0", port: 6006).hasPrefix("http://127.0.0.1:6006/ (listening on every IPv4 interface"))
        XCTAssertTrue(ConsoleServer.address(host: "::", port: 6006).hasPrefix("http://[::1]:6006/ (listening on every interface"))
    }

    /// A token file that is not there is named as missing (it said "cannot read it as UTF-8 text").
    func testAMissingTokenFileIsNamedAsMissing() throws {
        let missing = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0",
                                                "--host", "0.0.0.0", "--auth-token-file", "/no/such/tokens.txt"], limit: 60)
        XCTAssertNotEqual(missing.status, 0, missing.log)
        XCTAssertTrue(missing.log.contains("--auth-token-file /no/such/tokens.txt: no such file"), missing.log)
        let folder = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0",
                                               "--host", "0.0.0.0", "--auth-token-file", "/tmp"], limit: 60)
        XCTAssertTrue(folder.log.contains("--auth-token-file /tmp: a folder, not a file"), folder.log)
    }
}
