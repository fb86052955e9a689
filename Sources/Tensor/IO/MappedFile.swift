#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file (`mmap` with `PROT_READ`, `MAP_PRIVATE`).
///
/// Mapping reads nothing: pages are faulted in from the page cache when first touched. The mapping
/// lives until the last reference to this object goes away; tensors that borrow it hold a reference
/// through `Storage.owner`. Writing through a pointer into the mapping crashes (the pages are
/// read-only), and truncating the file on disk while it is mapped makes later reads fault (SIGBUS):
/// that is a property of `mmap` and cannot be checked.
// unchecked: all fields are `let` and the mapping is read-only (PROT_READ) until deinit unmaps it.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// Start of the mapping; nil when the file is empty (nothing to map).
    public let base: UnsafeRawPointer?
    /// Size of the file (and of the mapping) in bytes.
    public let byteCount: Int

    /// Maps `path`. Throws `TensorError.io` when the file cannot be opened, is not a regular file or
    /// cannot be mapped. A FIFO or device is refused without blocking.
    public init(path: String) throws {
        self.path = path
        // Opening a FIFO for reading blocks until a writer appears: look before opening, and open
        // non-blocking in case the path was swapped in between (checked again with fstat).
        var pre = stat()
        if stat(path, &pre) == 0, (pre.st_mode & S_IFMT) != S_IFREG {
            throw TensorError.io(path: path, reason: "not a regular file (\(MappedFile.fileKind(pre.st_mode)))")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw TensorError.io(path: path, reason: "cannot open: \(MappedFile.errnoText())") }
        var st = stat()
        if fstat(fd, &st) != 0 {
            close(fd)
            throw TensorError.io(path: path, reason: "cannot stat: \(MappedFile.errnoText())")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw TensorError.io(path: path, reason: "not a regular file (\(MappedFile.fileKind(st.st_mode)))")
        }
        byteCount = Int(st.st_size)
        descriptor = fd
        if byteCount == 0 { base = nil; return }
        guard let p = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0),
              p != UnsafeMutableRawPointer(bitPattern: -1) else {
            close(fd)
            throw TensorError.io(path: path, reason: "cannot mmap \(byteCount) bytes: \(MappedFile.errnoText())")
        }
        base = UnsafeRawPointer(p)
    }

    /// The open file, kept for `read(into:fileOffset:count:)`.
    private let descriptor: Int32

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
        close(descriptor)
    }

    /// Reads `count` bytes at `fileOffset` with `pread` into `destination` (e.g. pinned memory for a
    /// GPU upload): the kernel copies from the page cache without mapping a page into this process,
    /// which for tens of GB is several times faster than touching the mapping page by page. False when
    /// the range is outside the file or the read fails (the caller falls back to the mapping).
    public func read(into destination: UnsafeMutableRawPointer, fileOffset: Int, count: Int) -> Bool {
        guard fileOffset >= 0, count >= 0, fileOffset + count <= byteCount else { return false }
        var done = 0
        while done < count {
            let n = pread(descriptor, destination + done, count - done, off_t(fileOffset + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Where a tensor that borrows this mapping starts in the file, or nil if it does not borrow it.
    public func fileOffset(of tensor: Tensor) -> Int? {
        guard tensor.storage.owner === self, let base else { return nil }
        let start = Int(bitPattern: tensor.rawPointer) - Int(bitPattern: base)
        return start >= 0 && start + tensor.byteCount <= byteCount ? start : nil
    }

    /// The whole mapping as bytes (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }

    /// The text of the current `errno`.
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// What `path` is when it exists and is not a regular file ("a folder", "a FIFO", "a character
    /// device", ...), for messages; nil for a regular file or one that cannot be looked at.
    public static func irregularKind(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG else { return nil }
        return fileKind(st.st_mode)
    }

    /// What a `st_mode` describes, for messages ("a folder", "a FIFO", ...).
    static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a plain file"
        }
    }
}

extension MappedFile {
    /// Lets the kernel drop the resident pages of a tensor that is a view of a mapped file, after its
    /// values were copied elsewhere (fused into a bigger weight, quantized): without this the copied-from
    /// pages stay in the process's resident set as long as the file is mapped. Reading the tensor
    /// afterwards is still correct (the pages fault in again from the file). Only whole pages inside
    /// the tensor's bytes are released; tensors that do not borrow a mapping are left alone.
    public static func releaseResidentPages(of tensor: Tensor) {
        guard let mapping = tensor.storage.owner as? MappedFile, let base = mapping.base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: tensor.rawPointer), end = start + tensor.byteCount
        let lo = (start + page - 1) / page * page, hi = end / page * page
        let mapLo = Int(bitPattern: base), mapHi = mapLo + mapping.byteCount
        guard hi > lo, lo >= mapLo, hi <= mapHi else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, Int32(MADV_DONTNEED))
    }
}
