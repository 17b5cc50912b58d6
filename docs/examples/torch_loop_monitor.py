"""Track the Lyapunov spectrum of a PyTorch LSTM during a plain training loop.

    python docs/examples/torch_loop_monitor.py

Per epoch: call the monitor at the end of the epoch. Per optimizer step: attach it
to the optimizer (lyapax_torch.callbacks.attach). Exponents in nats/step.
"""

import matplotlib

matplotlib.use("Agg")
import torch  # noqa: E402
from lyapax_torch.callbacks import attach, probe_batch  # noqa: E402

from lyapax.monitor import Monitor  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, F=2, H=32):
        super().__init__()
        self.rnn = torch.nn.LSTM(F, H, batch_first=True)
        self.head = torch.nn.Linear(H, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def data(n=256, T=100, delay=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 2, generator=g)
    y = torch.zeros(n, T, 1)
    y[:, delay:, 0] = x[:, :-delay, 0]  # a delayed copy of the first input: needs memory
    return torch.utils.data.TensorDataset(x, y)


def main(epochs=5):
    torch.manual_seed(0)
    model = Net()
    loader = torch.utils.data.DataLoader(data(), batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    probe = probe_batch(data(seed=1), batch=8, steps=100)         # fixed probe: 8 sequences x 100 steps

    per_epoch = Monitor(probe, every=1, k=16, select=lambda m: m.rnn)
    per_step = Monitor(probe, every=20, k=4, select=lambda m: m.rnn)
    handle = attach(per_step, model, opt)                          # after every optimizer.step()

    per_epoch(model, step=0)                                       # at initialisation
    for epoch in range(1, epochs + 1):
        for x, y in loader:
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        per_epoch(model, step=epoch)
        print(f"epoch {epoch}: loss {loss.item():.4f}, max exponent {per_epoch.records[-1].max_exponent:+.4f} "
              f"nats/step, spectrum took {per_epoch.records[-1].seconds * 1e3:.0f} ms")
    handle.remove()
    per_epoch.to_json("monitor.json")
    ax = per_epoch.plot_trajectories(indices=[1, 2, 4, 8, 16])
    ax.figure.savefig("monitor_trajectories.png", dpi=100)
    return per_epoch, per_step


if __name__ == "__main__":
    main()
