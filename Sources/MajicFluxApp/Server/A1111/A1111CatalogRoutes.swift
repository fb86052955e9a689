import Foundation
import Hummingbird
import Models
import Tensor

/// The A1111 listings clients read when they connect (SillyTavern, Open WebUI, webuiapi's `get_*`):
/// what this server does not have answers as A1111 with nothing installed does, an empty list, so a
/// client fills its menus instead of failing on a 404. The refresh calls have nothing to reload: the
/// LoRA folder is read on every listing and the model is fixed per server.
extension ConsoleServer {
    func addA1111CatalogRoutes(to api: RouterGroup<ConsoleRequestContext>,
                               handle: (@escaping @Sendable (Request) async throws -> Response) -> @Sendable (Request, ConsoleRequestContext) async throws -> Response) {
        // A1111's built-in upscalers ("None", "Lanczos", "Nearest": the hires fix's and the extras'
        // picture upscalers) and its latent upscale modes, as A1111 lists them.
        api.get("upscalers", use: handle { _ in
            A1111Error.json(.array((["None"] + PictureUpscaler.allCases.map(\.rawValue)).map {
                .object(["name": .string($0), "model_name": .null, "model_path": .null, "model_url": .null, "scale": .int(4)])
            }))
        })
        api.get("latent-upscale-modes", use: handle { _ in
            A1111Error.json(.array(HiresUpscaler.all.filter { $0.upscaler.isLatent }.map { .object(["name": .string($0.name)]) }))
        })
        for path in ["sd-vae", "hypernetworks", "face-restorers", "realesrgan-models",
                     "prompt-styles", "script-info", "extensions"] {
            api.get(RouterPath(path), use: handle { _ in A1111Error.json(.array([])) })
        }
        api.get("embeddings", use: handle { _ in A1111Error.json(.object(["loaded": .object([:]), "skipped": .object([:])])) })
        api.get("scripts", use: handle { _ in A1111Error.json(.object(["txt2img": .array([]), "img2img": .array([])])) })
        // webuiapi's get_memory(): the host's RAM as A1111 reports it (bytes); GPU memory is not
        // read from a request thread (the CUDA context belongs to the worker), so `cuda` says so.
        api.get("memory", use: handle { _ in
            var ram: [String: JSONValue] = ["error": .string("/proc/meminfo is not readable here")]
            if let total = SystemMemory.total(), let free = SystemMemory.available() {
                ram = ["free": .double(Double(free)), "used": .double(Double(total - free)), "total": .double(Double(total))]
            }
            return A1111Error.json(.object(["ram": .object(ram), "cuda": .object([
                "error": .string("GPU memory is not reported here; GET /api/status lists the workers and their devices")])]))
        })
        // webuiapi's get_cmd_flags(): A1111's flags that have a meaning here, as this server runs.
        api.get("cmd-flags", use: handle { _ in
            A1111Error.json(.object([
                "api": .bool(true), "nowebui": .bool(false), "listen": .bool(!ServerSecurity.isLoopback(self.configuration.host)),
                "port": .int(self.configuration.port), "lowvram": .bool(self.configuration.vramBudget != nil), "medvram": .bool(false),
                "api_auth": .null, "skip_torch_cuda_test": .bool(false), "no_half": .bool(self.configuration.precision == .f32),
            ]))
        })
        for path in ["refresh-checkpoints", "refresh-vae", "refresh-loras"] {
            api.post(RouterPath(path), use: handle { _ in A1111Error.json(.null) })
        }
    }
}
