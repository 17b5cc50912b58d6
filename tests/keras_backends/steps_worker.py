"""One step convention: a Monitor called by hand, the Lightning callback and the Keras callback (Keras on
torch), on the same probe and the same LSTM weights, record the same steps and exponents (JSON on stdout).

Training runs at a learning rate of 0, so the weights are the same at every step in every framework:
what is compared is which steps are recorded, what each on_record logger sees, and the numbers.
"""

from __future__ import annotations

import json

import keras
import keras_cases as C
import lightning as L
import torch
from lyapax_tensorflow import SpectrumCallback as KerasSpectrumCallback
from lyapax_torch.callbacks import SpectrumCallback as LightningSpectrumCallback

import lyapax

assert keras.backend.backend() == "torch", "run with KERAS_BACKEND=torch"
H, F, EPOCHS = 4, 3, 2
K, U, b = C.weights("LSTM", H, F, 9)
probe = C.inputs((3, 20, F), 10)
x, y = C.inputs((8, 20, F), 11), C.inputs((8, 1, 1), 12)[:, 0]
options = {"every": 1, "k": 2 * H, "warmup": 4, "dtype": "float64"}


def torch_lstm() -> torch.nn.LSTM:
    lstm = torch.nn.LSTM(F, H, batch_first=True)
    with torch.no_grad():  # Keras's layout: kernels transposed, one bias (the recurrent one is zero)
        lstm.weight_ih_l0.copy_(torch.as_tensor(K.T))
        lstm.weight_hh_l0.copy_(torch.as_tensor(U.T))
        lstm.bias_ih_l0.copy_(torch.as_tensor(b))
        lstm.bias_hh_l0.zero_()
    return lstm


def record(into: list):
    return lambda rec, spectrum: into.append(rec.step)


out: dict = {}

# Monitor by hand: step 0 before the first update, step e after e epochs
seen: list = []
lstm = torch_lstm()
head = torch.nn.Linear(H, 1)
opt = torch.optim.SGD([*lstm.parameters(), *head.parameters()], lr=0.0)
monitor = lyapax.Monitor(torch.as_tensor(probe), on_record=record(seen), **options)
monitor(lstm, step=0)
for epoch in range(EPOCHS):
    loss = torch.nn.functional.mse_loss(head(lstm(torch.as_tensor(x))[0][:, -1]), torch.as_tensor(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    monitor(lstm, step=epoch + 1)
out["monitor"] = {"steps": monitor.steps.tolist(), "on_record": seen, "exponents": monitor.exponents.tolist()}


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = torch_lstm(), torch.nn.Linear(H, 1)

    def training_step(self, batch, batch_idx):
        xb, yb = batch
        return torch.nn.functional.mse_loss(self.head(self.rnn(xb)[0][:, -1]), yb)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


seen = []
cb = LightningSpectrumCallback(torch.as_tensor(probe), at_start=True, select=lambda m: m.rnn, log=False,
                               on_record=record(seen), **options)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=4)
trainer = L.Trainer(max_epochs=EPOCHS, callbacks=[cb], logger=False, enable_progress_bar=False,
                    enable_checkpointing=False, enable_model_summary=False, accelerator="cpu", devices=1)
trainer.fit(Net(), data)
out["lightning"] = {"steps": cb.monitor.steps.tolist(), "on_record": seen, "exponents": cb.monitor.exponents.tolist()}

seen = []
net = keras.Sequential([keras.Input((20, F)), keras.layers.LSTM(H), keras.layers.Dense(1)])
net.layers[0].set_weights([K, U, b])
net.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
kcb = KerasSpectrumCallback(probe, at_start=True, on_record=record(seen), **options)
net.fit(x, y, epochs=EPOCHS, batch_size=4, verbose=0, callbacks=[kcb])
out["keras"] = {"steps": kcb.monitor.steps.tolist(), "on_record": seen, "exponents": kcb.monitor.exponents.tolist(),
                "epochs": kcb.epochs}
print(json.dumps(out))
