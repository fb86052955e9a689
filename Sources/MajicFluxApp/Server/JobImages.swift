import Foundation
import Models
import Tensor

/// A job's input pictures and their options, read from the JSON fields (`image`, `mask`, `control`,
/// `reference` as base64 or data URLs; `strength`, `mask_blur`, `outpaint`, `control_preprocess`,
/// `reference_resize`) or, for a multipart upload, from its file parts. Sizes are checked before
/// anything is decoded: too many bytes or pixels is 413, anything unreadable 400, each naming the field.
struct JobImages {
    var limits: ServerImageLimits

    /// The conditioning of the job `o` (nil: text-to-image). `files`: pictures uploaded as multipart
    /// parts, by field name (they win over a JSON field of the same name).
    func conditioning(_ o: [String: JSONValue], files: [String: [UInt8]]) throws -> ImageConditioning? {
        var pictures: [String: PNGImage] = [:]
        for role in JobConditioning.roles {
            let bytes: [UInt8]
            if let f = files[role] {
                bytes = f
            } else {
                switch o[role] {
                case nil, .null?: continue
                case .string(let s)?: bytes = try base64(s, field: role)
                case let v?: throw APIError.badRequest("\(role) must be a picture as base64 text or a data URL (data:image/png;base64,...), got \(JobRequestParser.shown(v))")
                }
            }
            pictures[role] = try picture(bytes, field: role)
        }
        var c = ImageConditioning(image: pictures["image"], mask: pictures["mask"], control: pictures["control"],
                                  reference: pictures["reference"])
        if let v = o["strength"], !v.isNull { c.strength = try JobRequestParser.number(v, "strength", default: 0) }
        c.maskBlur = try JobRequestParser.integer(o["mask_blur"], "mask_blur", default: 0)
        c.outpaint = try Self.outpaint(o["outpaint"])
        c.controlPreprocess = try Self.controlPreprocess(o["control_preprocess"])
        switch o["keep_unmasked"] {
        case nil, .null?: break
        case .bool(let b)?: c.keepUnmasked = b
        case .string(let s)? where ["true", "false"].contains(s.lowercased()): c.keepUnmasked = s.lowercased() == "true"  // a form field
        case let v?: throw APIError.badRequest("keep_unmasked must be true or false, got \(JobRequestParser.shown(v))")
        }
        if c.keepUnmasked && c.mask == nil && c.image?.hasTransparency != true {
            throw APIError.badRequest("keep_unmasked needs a mask (or a picture with transparency) to keep the rest of the picture")
        }
        switch o["reference_resize"] {
        case nil, .null?: break
        case .string(let s)? where ReferenceResize(rawValue: s) != nil: c.referenceResize = ReferenceResize(rawValue: s)!
        case let v?: throw APIError.badRequest("reference_resize must be \"auto\" or \"off\", got \(JobRequestParser.shown(v))")
        }
        if c.image == nil && c.strength != nil { throw APIError.badRequest("strength needs an input picture: image") }
        let given = !c.isEmpty || c.strength != nil || c.maskBlur != 0 || c.controlPreprocess != nil || o["reference_resize"].map { !$0.isNull } == true
        if c.reference == nil, let v = o["reference_resize"], !v.isNull { throw APIError.badRequest("reference_resize needs a reference picture") }
        return given ? c : nil
    }

    /// The bytes of a base64 field: plain base64 or a `data:<type>;base64,` URL; whitespace ignored.
    func base64(_ text: String, field: String) throws -> [UInt8] {
        var payload = Substring(text)
        if payload.hasPrefix("data:") {
            guard let comma = payload.firstIndex(of: ","), payload[..<comma].hasSuffix(";base64") else {
                throw APIError.badRequest("\(field) is a data URL without ';base64,': send the picture base64-encoded")
            }
            payload = payload[payload.index(after: comma)...]
        }
        // Checked on the text, before decoding: 4 characters carry 3 bytes.
        if payload.utf8.count / 4 * 3 > limits.maxImageBytes + 3 {
            throw APIError(.contentTooLarge, "\(field) is about \(payload.utf8.count / 4 * 3) bytes, more than this server's limit of \(limits.maxImageBytes) bytes per picture")
        }
        let compact = payload.utf8.filter { !($0 == 32 || $0 == 10 || $0 == 13 || $0 == 9) }
        guard !compact.isEmpty, let data = Data(base64Encoded: Data(compact)) else {
            throw APIError.badRequest("\(field) is not valid base64 (send the picture file base64-encoded, or as a data URL)")
        }
        return [UInt8](data)
    }

    /// A picture file's bytes decoded, within the byte and pixel limits.
    func picture(_ bytes: [UInt8], field: String) throws -> PNGImage {
        if bytes.count > limits.maxImageBytes {
            throw APIError(.contentTooLarge, "\(field) is \(bytes.count) bytes, more than this server's limit of \(limits.maxImageBytes) bytes per picture")
        }
        do {
            return try InputPicture.decode(bytes: bytes, source: field, maxPixels: limits.maxInputPixels)
        } catch let p as InputPicture.Problem {
            throw APIError(p.tooLarge ? .contentTooLarge : .badRequest, p.description)
        }
    }

    /// `outpaint`: [left, top, right, bottom], or the text "l,t,r,b" (a form field).
    static func outpaint(_ v: JSONValue?) throws -> OutpaintMargins? {
        let shape = "outpaint must be [left, top, right, bottom] in pixels"
        switch v {
        case nil, .null?: return nil
        case .string(let s)?:
            guard let m = OutpaintMargins(parsing: s) else { throw APIError.badRequest("\(shape), got \"\(s.prefix(40))\"") }
            return m
        case .array(let items)? where items.count == 4:
            let n = try items.enumerated().map { try JobRequestParser.integer($1, "outpaint[\($0)]", default: 0) }
            return OutpaintMargins(left: n[0], top: n[1], right: n[2], bottom: n[3])
        case let v?: throw APIError.badRequest("\(shape), got \(JobRequestParser.shown(v))")
        }
    }

    /// `control_preprocess`: `{"canny": [low, high]}`, `"canny"` (50, 200), or null / `"none"`.
    static func controlPreprocess(_ v: JSONValue?) throws -> ControlPreprocess? {
        let shape = "control_preprocess must be {\"canny\": [low, high]}, \"canny\" or null"
        switch v {
        case nil, .null?, .string("none")?, .string("")?: return nil
        case .string("canny")?: return .defaultCanny
        case .object(let o)? where o.count == 1:
            guard case .array(let t)? = o["canny"], t.count == 2 else { throw APIError.badRequest(shape) }
            return .canny(low: try JobRequestParser.integer(t[0], "control_preprocess.canny[0]", default: 50),
                          high: try JobRequestParser.integer(t[1], "control_preprocess.canny[1]", default: 200))
        case let v?: throw APIError.badRequest("\(shape), got \(JobRequestParser.shown(v))")
        }
    }

    /// Bytes of `body` that are the pictures' base64 text (the allowance beyond `maxBodyBytes`).
    static func pictureBytes(_ o: [String: JSONValue]) -> Int {
        JobConditioning.roles.reduce(0) { sum, role in
            if case .string(let s)? = o[role] { return sum + s.utf8.count }
            return sum
        }
    }
}
