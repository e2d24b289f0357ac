"""Typed exceptions. The CLI prints them as one line; the GUI shows them in a dialog."""


class ProofdeskError(Exception):
    """Base class: a failure with a message meant for the user."""


class ProjectError(ProofdeskError):
    """The project folder is missing, not a project, or cannot be opened."""


class ServerUnavailable(ProjectError):
    """The team server cannot be reached (the network, the server restarting): what was being
    written is not saved; the connection is made again at the next use."""


class SchemaVersionError(ProjectError):
    """The database was written by a newer Proofdesk than this one."""


class BadInputError(ProofdeskError):
    """A file could not be imported (unreadable, corrupt, encrypted, too large...)."""


class ConflictError(ProofdeskError):
    """Someone else changed the region since this window loaded it."""


class NotFoundError(ProofdeskError):
    """A page, region or document id that does not exist."""


class PermissionDenied(ProofdeskError):
    """The user's role does not allow the action."""
