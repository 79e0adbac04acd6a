"""klachtradar: Dutch social-media listening and complaint detection for webcare teams.

The core package holds what every other package shares: the data contract
(:mod:`klachtradar.contract`), settings, the transport interface, the pipeline and
runner that compose the stages, and the CLI.
"""

from klachtradar.contract import SCHEMA_VERSION

__version__ = "0.1.0"
__all__ = ["SCHEMA_VERSION", "__version__"]
