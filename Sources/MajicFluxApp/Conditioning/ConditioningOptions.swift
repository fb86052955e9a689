import ArgumentParser
import Models
import Tensor

/// `generate`'s picture options: img2img, inpainting, Fill, outpainting, control, Kontext. Values are
/// checked here as far as they can be without the pictures and the model; the rest by
/// `GenerationLimits` with the model's kind (`Generate.request(preset:)`), before any weights load.
struct ConditioningOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A picture to start from (PNG, JPEG or WebP; img2img, or inpainting with --mask, or outpainting with --outpaint). Transparent pixels of an RGBA picture are the mask when no --mask is given.", valueName: "FILE"))
    var image: String?
    @Option(help: ArgumentHelp("Inpainting mask, the size of --image: white = repaint, black = keep.", valueName: "FILE"))
    var mask: String?
    @Option(parsing: .unconditional, help: "img2img/inpainting with an ordinary model: how much of the schedule runs, above 0 and at most 1 (default \(GeneratedImage.number(ImageConditioning.defaultStrength))); not for Fill, control or Kontext models.")
    var strength: Float?
    @Option(name: .customLong("mask-blur"), parsing: .unconditional, help: ArgumentHelp("Gaussian blur of the mask in pixels before it is binarised (0-\(GenerationLimits.maskBlur.upperBound)).", valueName: "PX"))
    var maskBlur: Int = 0
    @Option(parsing: .unconditional, help: ArgumentHelp("Outpainting: grow the canvas of --image by these pixels; the new area is painted (through Fill for a Fill model).", valueName: "LEFT,TOP,RIGHT,BOTTOM"))
    var outpaint: String?
    @Option(help: ArgumentHelp("FLUX.1 Canny/Depth models: the control picture (an edge or depth map, or a photo with --control-preprocess canny).", valueName: "FILE"))
    var control: String?
    @Option(name: .customLong("control-preprocess"), help: "Make the control picture from --control first: canny (edges).")
    var controlPreprocess: ControlPreprocessOption?
    @Option(name: .customLong("canny-low"), parsing: .unconditional, help: "Canny's low hysteresis threshold (default 50).")
    var cannyLow: Int?
    @Option(name: .customLong("canny-high"), parsing: .unconditional, help: "Canny's high hysteresis threshold (default 200).")
    var cannyHigh: Int?
    @Option(help: ArgumentHelp("FLUX.1 Kontext: the picture to edit as the prompt says.", valueName: "FILE"))
    var reference: String?
    @Option(name: .customLong("reference-resize"), help: "Kontext reference size: auto (diffusers' preferred Kontext size nearest its aspect ratio) or off (its own, floored to multiples of 16).")
    var referenceResize: ReferenceResize?

    /// Combinations that are wrong whatever the pictures and the model.
    func validate() throws {
        if (cannyLow != nil || cannyHigh != nil) && controlPreprocess != .canny {
            throw ValidationError("--canny-low and --canny-high set the thresholds of --control-preprocess canny; add it, or leave them out")
        }
        if controlPreprocess != nil && control == nil { throw ValidationError("--control-preprocess needs a control picture: --control FILE") }
        if referenceResize != nil && reference == nil { throw ValidationError("--reference-resize needs a Kontext reference: --reference FILE") }
        if let outpaint, OutpaintMargins(parsing: outpaint) == nil {
            throw ValidationError("--outpaint takes four pixel counts LEFT,TOP,RIGHT,BOTTOM (e.g. 0,0,256,0), got \"\(outpaint)\"")
        }
        if image == nil {
            for (given, name) in [(mask != nil, "--mask"), (strength != nil, "--strength"), (outpaint != nil, "--outpaint")] where given {
                throw ValidationError("\(name) needs an input picture: --image FILE")
            }
        }
    }

    /// Whether any picture option is given.
    var isEmpty: Bool { image == nil && mask == nil && control == nil && reference == nil && outpaint == nil }

    /// The pictures read (errors name the option and the file) and the options; nil when none given.
    func conditioning() throws -> ImageConditioning? {
        guard !isEmpty || strength != nil || maskBlur != 0 else { return nil }
        func read(_ path: String?, _ option: String) throws -> PNGImage? {
            guard let path else { return nil }
            do { return try InputPicture.load(path: path) } catch let p as InputPicture.Problem { throw CLIError("\(option) \(p)") }
        }
        var c = ImageConditioning(image: try read(image, "--image"), mask: try read(mask, "--mask"), strength: strength,
                                  maskBlur: maskBlur, outpaint: outpaint.flatMap(OutpaintMargins.init(parsing:)),
                                  control: try read(control, "--control"), reference: try read(reference, "--reference"),
                                  referenceResize: referenceResize ?? .auto)
        if controlPreprocess == .canny {
            c.controlPreprocess = .canny(low: cannyLow ?? 50, high: cannyHigh ?? 200)
        }
        return c
    }

    /// How each conditioning field is given on the command line.
    static let optionNames: [GenerationIssue.Field: String] = [
        .image: "--image", .mask: "--mask", .strength: "--strength", .maskBlur: "--mask-blur",
        .outpaint: "--outpaint", .control: "--control", .reference: "--reference"]
}

/// `--control-preprocess`.
enum ControlPreprocessOption: String, ExpressibleByArgument, CaseIterable { case canny }

extension ReferenceResize: ExpressibleByArgument {}
