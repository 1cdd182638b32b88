"""pepr: the executable research compendium of the PePR score (performance per resource unit).

Importing the package is cheap and never touches the network: submodules (``pepr.score``,
``pepr.results``, ``pepr.train``, ...) are imported where they are used.
"""

__version__ = "0.1.0"
