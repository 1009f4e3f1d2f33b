"""Graph: runs a network of layer nodes forward and backward.

Built from the symbolic input and output tensors of the functional API.  Forward visits
nodes in topological order and keeps, per node, the cache dict its layer fills for
backward.  Backward visits them in reverse, hands each layer the gradient of its output,
and sums gradients where a tensor feeds several layers (branches, shared layers).
"""

from ..layers.base import SymbolicTensor
from ..layers.core import InputLayer


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (lists of SymbolicTensor)."""

    def __init__(self, inputs, outputs):
        for t in list(inputs) + list(outputs):
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    "Model inputs and outputs must be symbolic tensors from fastnn.Input "
                    f"and layer calls. Received: {t!r}"
                )
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(
                    f"Model inputs must come from fastnn.Input(...). Received: {t!r}"
                )
        self.nodes = self._topological_order()
        reached = {n.id for n in self.nodes if isinstance(n.layer, InputLayer)}
        for t in self.inputs:
            if t.node.id not in reached:
                raise ValueError(f"Input {t.node.layer.name!r} is not connected to the outputs.")
        missing = [n.layer.name for n in self.nodes
                   if isinstance(n.layer, InputLayer) and n not in [t.node for t in self.inputs]]
        if missing:
            raise ValueError(
                f"The outputs depend on inputs that were not passed to the model: {missing}"
            )
        # Nodes whose every input is a model input need no input gradient (the data).
        self.skip_dx = {
            n.id for n in self.nodes
            if n.inbound and all(isinstance(t.node.layer, InputLayer) for t in n.inbound)
        }
        self.layers = []
        for n in self.nodes:
            if n.layer not in self.layers:
                self.layers.append(n.layer)
        # What a step needs of each computing node, worked out once here rather than on
        # every forward and backward: (node id, layer, inbound node ids, whether the
        # layer takes a list, whether the input gradient is needed).
        self._steps = [
            (n.id, n.layer, tuple(t.node.id for t in n.inbound),
             len(n.inbound) > 1 or _is_multi_input(n), n.id not in self.skip_dx)
            for n in self.nodes if not isinstance(n.layer, InputLayer)
        ]
        self._input_ids = [t.node.id for t in self.inputs]
        self._output_ids = [t.node.id for t in self.outputs]

    def _topological_order(self):
        order, state = [], {}
        for out in self.outputs:
            stack = [(out.node, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    if state.get(node.id) != 2:
                        state[node.id] = 2
                        order.append(node)
                    continue
                if state.get(node.id):
                    continue
                state[node.id] = 1
                stack.append((node, True))
                for t in reversed(node.inbound):
                    if not state.get(t.node.id):
                        stack.append((t.node, False))
        return order

    def forward(self, inputs, training, caches, skip_activation=()):
        """Run the graph on a list of input arrays; returns the list of outputs.

        Args:
            inputs: arrays in ``self.inputs`` order.
            training: passed to every layer (Dropout, BatchNormalization use it).
            caches: dict node id -> cache dict, filled here and kept by the caller.
            skip_activation: node ids whose layer must skip its final activation (a loss
                fuses with it).
        """
        values = dict(zip(self._input_ids, inputs))
        for node_id, layer, inbound, multi, need_dx in self._steps:
            cache = caches.get(node_id)
            if cache is None:
                cache = caches[node_id] = {}
            cache["need_dx"] = need_dx
            arg = [values[i] for i in inbound] if multi else values[inbound[0]]
            values[node_id] = layer.forward(
                arg, training, cache, skip_activation=node_id in skip_activation
            )
        return [values[i] for i in self._output_ids]

    def backward(self, caches, output_grads):
        """Back-propagate ``output_grads`` (one per output) through a forward's caches.

        Returns a dict ``id(variable) -> gradient`` for the trainable weights reached.
        """
        dys = {}
        for node_id, g in zip(self._output_ids, output_grads):
            _accumulate(dys, node_id, g)
        grads = {}
        for node_id, layer, inbound, multi, need_dx in reversed(self._steps):
            dy = dys.pop(node_id, None)
            if dy is None:
                continue
            cache = caches[node_id]
            dx = layer.backward(cache, dy)
            weight_grads = cache.get("grads")
            if weight_grads:
                for var, g in zip(layer.trainable_weights, weight_grads):
                    key = id(var)
                    # a layer used at several nodes: its gradients are summed (into a
                    # new array, since g is the layer's reused buffer)
                    grads[key] = g if key not in grads else grads[key] + g
            if not need_dx:
                continue
            if multi:
                for i, g in zip(inbound, dx):
                    if g is not None:
                        _accumulate(dys, i, g)
            elif dx is not None:
                _accumulate(dys, inbound[0], dx)
        return grads


def _is_multi_input(node):
    return getattr(node.layer, "multi_input", False)


def _accumulate(dys, node_id, g):
    # A new array when summing: ``g`` may be a layer's reused buffer.
    dys[node_id] = g if node_id not in dys else dys[node_id] + g
