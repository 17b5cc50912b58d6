"""One module per JAX model library (`nnx`: flax.nnx, `linen`: flax.linen, `equinox`, `keras`: Keras 3 on JAX).

Each imports its library at its top and is loaded by `lyapax_jax.models` only once the
user has imported that library (``sys.modules``), so the JAX backend never needs flax,
equinox or keras installed for the other libraries. Every module has the same names: a library class
(``matches``, ``plan``, ``with_params``), ``LIBRARY`` (its instance) and ``call_module``
(the `lyapax.tangent.Step` ``apply`` of the library's modules, the role
``tangent.call_module`` has in the other backends). `common` holds what they share.
"""
