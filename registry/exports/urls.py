from django.urls import path

from registry.exports import long_views, views

app_name = "exports"

urlpatterns = [
    path("", views.index, name="index"),
    path("series/<int:pk>/", views.series_page, name="series"),
    path("series/<int:pk>/download/", views.download, name="download"),
    path("series/<int:pk>/figures/<str:name>.<str:ext>", views.figure, name="figure"),
    path("series/<int:pk>/long.csv", long_views.long_format, name="long"),
    path("long-dictionary.csv", long_views.long_format_dictionary, name="long_dictionary"),
    path("mine/", views.my_exports, name="mine"),
    path("<int:pk>/", views.export_status, name="status"),
    path("<int:pk>/progress/", views.export_progress, name="progress"),
    path("<int:pk>/file/", views.export_file, name="file"),
]
