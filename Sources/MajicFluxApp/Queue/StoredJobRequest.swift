import Foundation
import Models
import Tensor

/// A request taken apart for a `JobStore` (parameters, LoRA names, pictures as PNG bytes) and put
/// back together by the worker that runs it, possibly in another process.
enum StoredJobRequest {
    /// The job to enqueue for `request` (the seed already chosen), needing `model`.
    static func newJob(id: String, request: GenerationRequest, model: String?) throws -> NewJob {
        let parameters = JobParameters(request)
        let inputs = try request.conditioning.map { c in
            try JobConditioning.pictures(c).map { JobInputPicture(role: $0.role, png: try PNG.encode($0.picture, fast: true)) }
        } ?? []
        return NewJob(id: id, parameters: parameters, inputs: inputs,
                      requirements: JobRequirements(model: model, loras: parameters.loras.map(\.name)))
    }

    /// The request a claimed job asks for: its parameters, its LoRAs loaded from `loras`, its pictures
    /// decoded. Throws a message for people when something cannot be had here.
    static func request(_ claimed: ClaimedJob, loras: LoRALibrary) async throws -> GenerationRequest {
        let p = claimed.job.parameters
        var request = p.request
        request.loras = try await loras.uses(p.loras)
        if let record = p.conditioning {
            var pictures: [String: PNGImage] = [:]
            for input in claimed.inputs {
                do { pictures[input.role] = try PNG.decode(input.png).image } catch {
                    throw APIError(.internalServerError, "the job's \(input.role) picture could not be read back from the job store: \(error)")
                }
            }
            request.conditioning = conditioning(record, pictures: pictures)
        }
        return request
    }

    /// The conditioning a record describes, with its pictures.
    static func conditioning(_ r: JobConditioning, pictures: [String: PNGImage]) -> ImageConditioning {
        var c = ImageConditioning(image: pictures["image"], mask: pictures["mask"], control: pictures["control"],
                                  reference: pictures["reference"])
        c.strength = r.strength
        c.maskBlur = r.mask_blur
        if let m = r.outpaint, m.count == 4 { c.outpaint = OutpaintMargins(left: m[0], top: m[1], right: m[2], bottom: m[3]) }
        if let t = r.control_preprocess?.canny, t.count == 2 { c.controlPreprocess = .canny(low: t[0], high: t[1]) }
        if let resize = r.reference_resize.flatMap(ReferenceResize.init(rawValue:)) { c.referenceResize = resize }
        c.keepUnmasked = r.keep_unmasked ?? false
        return c
    }
}
