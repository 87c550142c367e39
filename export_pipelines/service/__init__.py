"""The export service (`export-pipelines serve`): downloads, status pages and live progress, the front desk
that the application's users reach. Links, signers and what a download is live in ``delivery``."""
