import Foundation
import XCTest
import Tensor

/// `MappedFile.read(into:fileOffset:count:)` and `fileOffset(of:)`, the pieces the GPU's direct
/// file upload (`FileUploading`) stands on, checked against the mapping itself.
final class MappedFileReadTests: XCTestCase {
    func testReadMatchesTheMappingAndOffsetsLocateViews() throws {
        let path = NSTemporaryDirectory() + "mapped-read-\(getpid()).safetensors"
        defer { unlink(path) }
        let a = Tensor((0..<3000).map { Float($0) * 0.5 - 7 }, shape: [30, 100])
        let b = Tensor((0..<77).map { Float($0) }, shape: [77]).to(.bf16)
        try SafeTensorsWriter.write([("a", a), ("b", b)], to: path)
        let file = try SafeTensorsFile(path: path)
        for name in ["a", "b"] {
            let t = try file.tensor(named: name)
            let offset = try XCTUnwrap(file.mapping.fileOffset(of: t), "a zero-copy view must have a file offset")
            var bytes = [UInt8](repeating: 0, count: t.byteCount)
            XCTAssertTrue(bytes.withUnsafeMutableBytes { file.mapping.read(into: $0.baseAddress!, fileOffset: offset, count: t.byteCount) })
            XCTAssertEqual(bytes, t.hostBytes(), "pread must give the same bytes as the mapping for \(name)")
        }
        // A tensor that does not borrow the mapping has no offset; ranges past the end are refused.
        XCTAssertNil(file.mapping.fileOffset(of: a))
        var one: UInt8 = 0
        XCTAssertFalse(file.mapping.read(into: &one, fileOffset: file.mapping.byteCount, count: 1))
        XCTAssertFalse(file.mapping.read(into: &one, fileOffset: -1, count: 1))
        // Moving to the backend a tensor is already on is the identity.
        let t = try file.tensor(named: "a")
        XCTAssertEqual(t.moved(to: CPUBackend.shared).rawPointer, t.rawPointer)
    }
}
