package events

import (
	"context"
	"errors"
	"strings"

	"github.com/hibiken/asynq"
	"google.golang.org/protobuf/types/known/timestamppb"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// Admin implements JobService over asynq's archive.
type Admin struct {
	redpointv1.UnimplementedJobServiceServer
	insp  *asynq.Inspector
	queue string
	pages *pagetoken.Signer
}

var _ redpointv1.JobServiceServer = (*Admin)(nil)

// NewAdmin returns the failed-jobs service for queue; pages signs its page
// tokens.
func NewAdmin(insp *asynq.Inspector, queue string, pages *pagetoken.Signer) *Admin {
	return &Admin{insp: insp, queue: queue, pages: pages}
}

var errJobNotFound = apierr.ErrNotFound.WithMessage("未找到该失败任务")

// failedJobs is the one query of the archive: it has no filter.
var failedJobs = pagetoken.Query{"failedJobs"}

// ListFailedJobs lists the archive. It pages by page number, not by keyset
// (pagetoken.Page): asynq's inspector reads its archive only by page number
// and page size, with no cursor to start after.
func (a *Admin) ListFailedJobs(ctx context.Context, req *redpointv1.ListFailedJobsRequest) (*redpointv1.ListFailedJobsResponse, error) {
	size, err := pagetoken.SizeFrom(ctx)
	if err != nil {
		return nil, err
	}
	page := 1
	if _, err := a.pages.Decode(req.GetPageToken(), failedJobs, &page); err != nil {
		return nil, err
	}
	tasks, err := a.insp.ListArchivedTasks(a.queue, asynq.Page(page), asynq.PageSize(size))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, apierr.ErrUnavailable
	}
	resp := &redpointv1.ListFailedJobsResponse{}
	for _, t := range tasks {
		resp.FailedJobs = append(resp.FailedJobs, jobProto(t))
	}
	if len(tasks) == size {
		if resp.NextPageToken, err = a.pages.Encode(failedJobs, page+1); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// RetryFailedJob puts an archived job back in the queue.
func (a *Admin) RetryFailedJob(ctx context.Context, req *redpointv1.RetryFailedJobRequest) (*redpointv1.FailedJob, error) {
	id, ok := strings.CutPrefix(req.GetName(), "failedJobs/")
	if !ok || id == "" {
		return nil, apierr.InvalidField("name", "格式应为 failedJobs/{任务编号}")
	}
	info, err := a.insp.GetTaskInfo(a.queue, id)
	if err != nil || info.State != asynq.TaskStateArchived {
		return nil, errJobNotFound
	}
	if err := a.insp.RunTask(a.queue, id); err != nil {
		return nil, errJobNotFound
	}
	return jobProto(info), nil
}

func jobProto(t *asynq.TaskInfo) *redpointv1.FailedJob {
	return &redpointv1.FailedJob{
		Name:           "failedJobs/" + t.ID,
		Type:           t.Type,
		Payload:        string(t.Payload),
		LastError:      t.LastErr,
		Retried:        int32(t.Retried),
		LastFailedTime: timestamppb.New(t.LastFailedAt),
	}
}
