"""Views: analysis results -> plotly figures, tables and (escaped) HTML. No gradio here."""
