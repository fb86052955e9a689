import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
import Tensor

final class SafeTensorsWriterTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryFolder("st-writer") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Tensor "t.<DTYPE>" of shape (3, 5): element i = (i - 7) * 0.5 for floats (exact in every float
    /// format), (i - 7) * 3 for signed ints, i * 17 for u8, i % 3 == 0 for bool. The same formula is in
    /// Tools/make_safetensors_fixtures.py --verify.
    static func formulaTensors() -> [(String, Tensor)] {
        let idx = Array(0..<15)
        return DType.allCases.map { dtype in
            let t: Tensor
            switch dtype {
            case _ where dtype.isFloatingPoint: t = Tensor(idx.map { Float($0 - 7) * 0.5 }, shape: [3, 5]).to(dtype)
            case .bool: t = Tensor(integers: idx.map { $0 % 3 == 0 ? 1 : 0 }, shape: [3, 5], dtype: .bool)
            case .u8: t = Tensor(integers: idx.map { $0 * 17 }, shape: [3, 5], dtype: .u8)
            default: t = Tensor(integers: idx.map { ($0 - 7) * 3 }, shape: [3, 5], dtype: dtype)
            }
            return ("t.\(dtype.safetensorsName)", t)
        }
    }

    /// Writes every dtype with our writer and reads it back with our reader. The file is also left at
    /// <tmp>/majicflux-safetensors-writer-check.safetensors for `make_safetensors_fixtures.py --verify`.
    func testRoundTripEveryDType() throws {
        let tensors = Self.formulaTensors()
        let metadata = ["writer": "majicflux", "dtypes": "\(tensors.count)"]
        let path = dir + "/all.safetensors"
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)

        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(Set(file.names), Set(tensors.map(\.0)))
        XCTAssertEqual(file.header.dataStart % 8, 0, "header padded to a multiple of 8")
        for (name, t) in tensors {
            let r = try file.tensor(named: name)
            XCTAssertEqual(r.dtype, t.dtype, name)
            XCTAssertEqual(r.shape, [3, 5], name)
            XCTAssertEqual(r.hostBytes(), t.hostBytes(), name)
            XCTAssertTrue(try file.isZeroCopy(name), "alignedOrder keeps \(name) aligned")
        }
        XCTAssertEqual(try file.tensor(named: "t.F8_E4M3").floats(), (0..<15).map { Float($0 - 7) * 0.5 })
        XCTAssertEqual(try file.tensor(named: "t.I64").integers(), (0..<15).map { ($0 - 7) * 3 })
        XCTAssertEqual(try file.tensor(named: "t.BOOL").integers(), (0..<15).map { $0 % 3 == 0 ? 1 : 0 })

        let keep = FileManager.default.temporaryDirectory.path + "/majicflux-safetensors-writer-check.safetensors"
        try? FileManager.default.removeItem(atPath: keep)
        try FileManager.default.copyItem(atPath: path, toPath: keep)
    }

    func testRewritesPythonFixtureIdentically() throws {
        let src = try SafeTensorsFile(path: safetensorsFixtures() + "/all_dtypes.safetensors")
        let tensors = try src.names.map { ($0, try src.tensor(named: $0)) }
        let path = dir + "/copy.safetensors"
        try SafeTensorsWriter.write(tensors, metadata: src.metadata, to: path)
        let copy = try SafeTensorsFile(path: path)
        XCTAssertEqual(copy.metadata, src.metadata)
        XCTAssertEqual(copy.names.sorted(), src.names.sorted())
        for name in src.names {
            XCTAssertEqual(try copy.info(named: name).shape, try src.info(named: name).shape, name)
            XCTAssertEqual(Array(try copy.bytes(named: name)), Array(try src.bytes(named: name)), name)
        }
    }

    func testDictionaryConvenienceAndStridedInput() throws {
        let x = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let path = dir + "/d.safetensors"
        try SafeTensorsWriter.write(["xt": x.transposed(), "s": Tensor.scalar(4), "e": CPUBackend.shared.empty([0, 2], .bf16)], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(try file.tensor(named: "xt").floats(), x.transposed().contiguous().floats())
        XCTAssertEqual(try file.tensor(named: "s").shape, [])
        XCTAssertEqual(try file.tensor(named: "s").floats(), [4])
        XCTAssertEqual(try file.info(named: "e").byteCount, 0)
        XCTAssertTrue(file.metadata.isEmpty)
    }

    func testStreamingAppendInChunks() throws {
        let a = Tensor((0..<1000).map { Float($0) * 0.25 }, shape: [10, 100])
        let b = Tensor(integers: Array(0..<7), shape: [7], dtype: .i64)
        let entries: [SafeTensorsWriter.Entry] = [.init(name: "a", dtype: .f32, shape: [10, 100]),
                                                  .init(name: "empty", dtype: .f16, shape: [0]),
                                                  .init(name: "b", dtype: .i64, shape: [7])]
        let path = dir + "/s.safetensors"
        let w = try SafeTensorsWriter(path: path, entries: entries, metadata: ["k": "v"])
        let bytes = a.hostBytes()
        var pos = 0
        for size in [1, 3, 1000, 2, 2994] {  // odd sizes, including one larger than the buffer fill
            try bytes[pos..<(pos + size)].withUnsafeBytes { try w.appendBytes($0) }
            pos += size
        }
        XCTAssertEqual(w.next?.name, "empty")
        try w.append(b, named: "b")
        XCTAssertNil(w.next)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing under the final name before finish")
        try w.finish()
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.names, ["a", "b", "empty"], "offset order; 'b' and 'empty' both start at 4000, then by name")
        XCTAssertEqual(try file.info(named: "empty").dataOffsets, 4000..<4000)
        XCTAssertEqual(try file.tensor(named: "a").floats(), a.floats())
        XCTAssertEqual(try file.tensor(named: "b").integers(), Array(0..<7))
        XCTAssertEqual(file.metadata, ["k": "v"])
    }

    func testLargeTensorStreamsThroughUnbuffered() throws {
        let n = 3 << 19  // 6 MiB of f32, beyond the 1 MiB write buffer
        let t = Tensor((0..<n).map { Float($0 % 1009) }, shape: [n])
        let path = dir + "/big.safetensors"
        try SafeTensorsWriter.write([("small", Tensor([1, 2, 3], shape: [3])), ("big", t)], to: path)
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(try file.tensor(named: "big").floats(), t.floats())
        XCTAssertEqual(try file.tensor(named: "small").floats(), [1, 2, 3])
    }

    func testMisuseIsAnErrorAndLeavesNoFile() throws {
        let path = dir + "/w.safetensors"
        let entries: [SafeTensorsWriter.Entry] = [.init(name: "a", dtype: .f32, shape: [2]), .init(name: "b", dtype: .u8, shape: [3])]
        let w = try SafeTensorsWriter(path: path, entries: entries)
        assertThrows("invalidArgument", naming: "w.safetensors", containing: "expected tensor 'a'") {
            try w.append(Tensor([1, 2], shape: [2]), named: "b")
        }
        assertThrows("invalidArgument", naming: "w.safetensors", containing: "declared") {
            try w.append(Tensor([1, 2, 3], shape: [3]), named: "a")
        }
        assertThrows("invalidArgument", naming: "w.safetensors", containing: "declared") {
            try w.append(Tensor([1, 2], shape: [2]).to(.bf16), named: "a")
        }
        assertThrows("invalidArgument", naming: "w.safetensors", containing: "bytes left") {
            try [UInt8](repeating: 0, count: 9).withUnsafeBytes { try w.appendBytes($0) }
        }
        try w.append(Tensor([1, 2], shape: [2]), named: "a")
        assertThrows("invalidArgument", naming: "w.safetensors", containing: "missing") { try w.finish() }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "no final and no temporary file")

        assertThrows("invalidArgument", naming: "dup.safetensors", containing: "declared twice") {
            _ = try SafeTensorsWriter(path: self.dir + "/dup.safetensors", entries: [entries[0], entries[0]])
        }
        assertThrows("invalidArgument", naming: "meta.safetensors", containing: "reserved") {
            _ = try SafeTensorsWriter(path: self.dir + "/meta.safetensors", entries: [.init(name: "__metadata__", dtype: .u8, shape: [1])])
        }
        assertThrows("io", naming: "no-such-folder/x.safetensors") {
            _ = try SafeTensorsWriter(path: self.dir + "/no-such-folder/x.safetensors", entries: entries)
        }
    }

    func testAbandonedWriterKeepsThePreviousFile() throws {
        let path = dir + "/keep.safetensors"
        try SafeTensorsWriter.write([("old", Tensor([7], shape: [1]))], to: path)
        do {
            let w = try SafeTensorsWriter(path: path, entries: [.init(name: "new", dtype: .f32, shape: [4])])
            try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try w.appendBytes($0) }
            // dropped unfinished: deinit removes the temporary file
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["keep.safetensors"])
        XCTAssertEqual(try SafeTensorsFile(path: path).tensor(named: "old").floats(), [7])
        try SafeTensorsWriter.write([("new", Tensor([8], shape: [1]))], to: path)
        XCTAssertEqual(try SafeTensorsFile(path: path).names, ["new"], "a finished write replaces the file")
    }

    /// A folder (or a FIFO) as the destination is refused when the writer is made, before any data
    /// is produced, not when the finished file is renamed onto it; nothing is left behind.
    func testDestinationIsCheckedBeforeWriting() throws {
        let entries: [SafeTensorsWriter.Entry] = [.init(name: "a", dtype: .f32, shape: [2])]
        let folder = dir + "/out.safetensors"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        assertThrows("io", naming: folder, containing: "is a folder") { _ = try SafeTensorsWriter(path: folder, entries: entries) }
        let fifo = dir + "/fifo.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertThrows("io", naming: fifo, containing: "a FIFO") { _ = try SafeTensorsWriter(path: fifo, entries: entries) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["fifo.safetensors", "out.safetensors"])
    }

    /// `<path>.partial-<pid>` files of writers that died (killed before they could clean up) are
    /// removed by the next writer of `path`; those of live processes, and of other outputs, are kept.
    func testTemporaryFilesOfDeadWritersAreRemoved() throws {
        let path = dir + "/out.safetensors"
        let pidMax = Int32((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4_194_304
        let dead = "\(path).partial-\(pidMax + 1)"      // no process can have this id
        let live = "\(path).partial-1"                   // init
        let other = dir + "/other.safetensors.partial-\(pidMax + 1)"
        for p in [dead, live, other] { XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data([1, 2, 3]))) }
        XCTAssertEqual(SafeTensorsWriter.temporaryPath(for: path), "\(path).partial-\(getpid())")
        try SafeTensorsWriter.write([("a", Tensor([1, 2], shape: [2]))], to: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead), "a dead writer's partial file is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a live process's partial file is kept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: other), "another output's partial file is kept")
        XCTAssertEqual(try SafeTensorsFile(path: path).names, ["a"])
        XCTAssertEqual(SafeTensorsWriter.removeStaleTemporaryFiles(for: dir + "/other.safetensors"), [other])
    }

    func testAlignedOrderSortsWidestFirstAndIsStable() {
        let e: [SafeTensorsWriter.Entry] = [.init(name: "u", dtype: .u8, shape: [1]), .init(name: "h1", dtype: .f16, shape: [1]),
                                            .init(name: "l", dtype: .i64, shape: [1]), .init(name: "h0", dtype: .bf16, shape: [1]),
                                            .init(name: "f", dtype: .f32, shape: [1])]
        XCTAssertEqual(SafeTensorsWriter.alignedOrder(e).map(\.name), ["l", "f", "h1", "h0", "u"])
        let header = SafeTensorsWriter.headerBytes(e, metadata: ["a": "b"])
        XCTAssertEqual(header.count % 8, 0)
        XCTAssertEqual(Int(header[0]) | Int(header[1]) << 8, header.count - 8)
        XCTAssertEqual(header.last, 0x20, "padded with spaces")
    }
}
