import Foundation
import Hummingbird
import Tensor

/// The A1111 listings clients read when they connect (SillyTavern, Open WebUI, webuiapi's `get_*`):
/// what this server does not have answers as A1111 with nothing installed does, an empty list, so a
/// client fills its menus instead of failing on a 404. The refresh calls have nothing to reload: the
/// LoRA folder is read on every listing and the model is fixed per server.
extension ConsoleServer {
    func addA1111CatalogRoutes(to api: RouterGroup<ConsoleRequestContext>,
                               handle: (@escaping @Sendable (Request) async throws -> Response) -> @Sendable (Request, ConsoleRequestContext) async throws -> Response) {
        // "None" is the one upscaler A1111 always lists (the hires fix is not available here).
        api.get("upscalers", use: handle { _ in
            A1111Error.json(.array([.object(["name": .string("None"), "model_name": .null, "model_path": .null,
                                             "model_url": .null, "scale": .int(4)])]))
        })
        for path in ["latent-upscale-modes", "sd-vae", "hypernetworks", "face-restorers", "realesrgan-models",
                     "prompt-styles", "script-info", "extensions"] {
            api.get(RouterPath(path), use: handle { _ in A1111Error.json(.array([])) })
        }
        api.get("embeddings", use: handle { _ in A1111Error.json(.object(["loaded": .object([:]), "skipped": .object([:])])) })
        api.get("scripts", use: handle { _ in A1111Error.json(.object(["txt2img": .array([]), "img2img": .array([])])) })
        for path in ["refresh-checkpoints", "refresh-vae", "refresh-loras"] {
            api.post(RouterPath(path), use: handle { _ in A1111Error.json(.null) })
        }
    }
}
