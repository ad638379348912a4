"""The cyclic garbage collector, held off while a batch of work builds many objects that live
until it ends."""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collections_after() -> Iterator[None]:
    """Run the block without the cyclic collector, then collect the cycles it left.

    A batch that keeps every object it builds (a chunk of the monthly run: hundreds of drafts
    and thousands of lines, held until they are written) sets off collection after collection,
    each walking everything the batch holds so far and freeing nothing. Memory freed by
    reference counting is freed as usual; only cycles wait for the end of the block.

    Everything the block made is in the youngest generation (no collection moved it on), so a
    collection of that generation alone finds its cycles; a full one would also walk every
    object of the process (the modules, Django's), a cost a worker would pay at every chunk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(0)
