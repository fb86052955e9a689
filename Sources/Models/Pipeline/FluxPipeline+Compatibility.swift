import Tensor

extension FluxPipeline {
    /// The text encoders' widths must be what the DiT takes: parts from different models would
    /// otherwise fail inside a matrix product instead of with a message.
    func checkFits(dit: FluxConfig, sequence: Tensor, pooled: Tensor) throws {
        let t5Width = sequence.shape.last ?? 0, clipWidth = pooled.shape.last ?? 0
        if t5Width != dit.jointAttentionDim {
            throw ModelError.invalidParameter("the T5 encoder in \(files.t5) gives \(t5Width)-wide states, but the DiT in "
                + "\(files.transformer) takes \(dit.jointAttentionDim) (joint_attention_dim): they do not belong together")
        }
        if clipWidth != dit.pooledProjectionDim {
            throw ModelError.invalidParameter("the CLIP encoder in \(files.clip) gives \(clipWidth)-wide pooled vectors, but the DiT in "
                + "\(files.transformer) takes \(dit.pooledProjectionDim) (pooled_projection_dim): they do not belong together")
        }
    }

    /// The VAE must take the DiT's latent channels and scale by 8 (the pipeline's latent grid).
    func checkFits(vae: AutoencoderConfig, latentChannels: Int) throws {
        let where_ = files.vaeConfig ?? files.vae
        if vae.latentChannels != latentChannels {
            throw ModelError.invalidParameter("the VAE (\(where_)) has latent_channels \(vae.latentChannels), but the DiT in "
                + "\(files.transformer) makes \(latentChannels): they do not belong together")
        }
        if vae.downsampleFactor != 8 {
            throw ModelError.badConfig(path: where_, reason: "block_out_channels has \(vae.blockOutChannels.count) levels, which scale "
                + "latents by \(vae.downsampleFactor); FLUX pipelines need 4 levels (a factor of 8)")
        }
    }

    /// A Fill or control DiT takes the latents plus `joined` more channels per token; an ordinary one
    /// only the latents. A picture input for the wrong kind of DiT fails here with a message.
    func checkFits(dit: FluxConfig, joined: Int) throws {
        let latents = dit.resolvedOutChannels
        if dit.inChannels != latents + joined {
            throw ModelError.invalidParameter("the DiT in \(files.transformer) takes \(dit.inChannels) input channels per token, but \(preset.name) "
                + "generation gives it \(latents + joined) (\(latents) latent\(joined > 0 ? " + \(joined) conditioning" : "")): the model and its kind do not match")
        }
    }
}
