import Tensor
print("tensor-bench: \(CPUBackend.shared.name)")
